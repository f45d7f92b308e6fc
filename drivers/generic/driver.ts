import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {UserError} from '../../src/sdk/index.js'
import type {AdoptedHost, DockerMachineHost, Driver, MachineState} from '../../src/sdk/index.js'

interface GenericData {
  ip: string
  user: string
  port: number
  enginePort: number
  keyPath?: string
  agent?: boolean
}

/** berth does not own the machine: it cannot power it, and rm leaves it as it is. */
function unsupported(what: string): never {
  throw new UserError(`the generic driver cannot ${what} a machine: do it on the machine itself (berth ssh NAME -- ...)`)
}

async function defaultKey(): Promise<string | undefined> {
  for (const f of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const p = path.join(os.homedir(), '.ssh', f)
    if (await fs.access(p).then(() => true, () => false)) return p
  }
  return undefined
}

const driver: Driver<GenericData> = {
  name: 'generic',
  sshTimeout: 60,

  async preCreate(o) {
    const ip = o['generic-ip-address'] as string | undefined
    if (!ip) throw new UserError('--generic-ip-address is required with --driver generic')
    const port = Number(o['generic-ssh-port'])
    const enginePort = Number(o['generic-engine-port'])
    for (const [flag, v] of [['generic-ssh-port', port], ['generic-engine-port', enginePort]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) throw new UserError(`--${flag} must be a port number (got ${v})`)
    }
    let keyPath = o['generic-ssh-key'] as string | undefined
    let agent = false
    if (keyPath) {
      keyPath = path.resolve(keyPath)
      await fs.access(keyPath).catch(() => {
        throw new UserError(`--generic-ssh-key ${keyPath}: no such file`)
      })
    } else if (process.env.SSH_AUTH_SOCK) agent = true
    else {
      keyPath = await defaultKey()
      if (!keyPath) throw new UserError('no SSH key for the generic driver: pass --generic-ssh-key or run an ssh-agent')
    }
    return {data: {ip, user: String(o['generic-ssh-user'] ?? 'root'), port, enginePort, keyPath, agent}}
  },

  async create(_ctx, data) {
    return data
  },

  async remove() {
    return []
  },

  async start() {
    unsupported('start')
  },
  async stop() {
    unsupported('stop')
  },
  async restart() {
    unsupported('restart')
  },
  async kill() {
    unsupported('kill')
  },

  async state(): Promise<MachineState> {
    // berth learns the state from the engine (ls pings it); the driver itself cannot tell.
    return 'Running'
  },

  async ip(m) {
    return m.data.ip
  },

  async sshEndpoint(m) {
    const d = m.data
    return {host: d.ip, port: d.port, user: d.user, privateKeyPath: d.keyPath, agent: d.agent}
  },

  enginePort(m) {
    return m.data.enginePort
  },

  async adoptDockerMachine(h) {
    return adopt(h)
  },
}

const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined)
const port = (v: unknown, dflt: number) => (Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536 ? v as number : dflt)

/**
 * Any docker-machine host as a generic one: its address, SSH user, port and key, and its engine
 * port (generic's EnginePort, else the URL of the "none" driver, else 2376). Every driver keeps
 * these in libmachine's BaseDriver fields, so hosts of drivers berth lacks (amazonec2,
 * digitalocean...) keep working for env, ssh, ls and rm, without power control.
 */
function adopt(h: DockerMachineHost): AdoptedHost<GenericData> {
  const d = h.driver
  const unmapped: string[] = []
  let url: URL | undefined
  try {
    url = text(d.URL) ? new URL(text(d.URL)!) : undefined
  } catch { /* not a URL: IPAddress decides */ }
  const ip = text(d.IPAddress) ?? url?.hostname
  if (!ip) throw new UserError(`docker-machine host "${h.machineName}" has no IPAddress in its config.json: nothing to reach it at`)
  if (h.driverName !== 'generic') unmapped.push(`driver "${h.driverName}": adopted as generic, so berth cannot start, stop, kill or delete the host`)
  if (h.driverName === 'none') unmapped.push('ssh: the "none" driver records no SSH access')
  const enginePort = port(d.EnginePort, url?.port ? Number(url.port) : 2376)
  return {
    data: {ip, user: text(d.SSHUser) ?? 'root', port: port(d.SSHPort, 22), enginePort, keyPath: h.sshKeyPath, agent: !h.sshKeyPath},
    unmapped,
  }
}

export default driver
