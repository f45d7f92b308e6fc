import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {UserError} from '../../src/sdk/index.js'
import type {Driver, MachineState} from '../../src/sdk/index.js'

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
}

export default driver
