/**
 * `berth import --docker-machine`: machines of a docker-machine store (libmachine's filestore:
 * certs/, machines/NAME/config.json in ConfigVersion 3) become berth records that keep using
 * what docker-machine gave them: their CA and client certificate, SSH key and user, engine
 * address and port. The docker-machine store is only read; the host is not contacted.
 */
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {ExistsError, NotFoundError, UserError, writeFileAtomic} from '../core/index.js'
import {type Ctx, loadDriver} from '../host/index.js'
import type {AdoptedHost, Driver, DriverData} from '../sdk/index.js'
import {NAME_RE, recordSchemas, SCHEMA_VERSION, type EngineOptions, type MachineRecord} from '../store/index.js'

/** docker-machine's default store: MACHINE_STORAGE_PATH, else ~/.docker/machine. */
export function dockerMachineStorePath(): string {
  return process.env.MACHINE_STORAGE_PATH || path.join(os.homedir(), '.docker', 'machine')
}

export interface DmImported {
  name: string
  driver: string
  /** The swarm-mode swarm its engine is in, as berth now records it. */
  swarm?: {name: string; manager: boolean}
  /** docker-machine's own driver name. */
  from: string
  unmapped: string[]
}

type Json = Record<string, unknown>
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? v as Json : {})
const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined)
const strs = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])

interface Plan {
  name: string
  configFile: string
  host: Json
  files: {ca: string; cert: string; key: string; caKey?: string; server?: string; sshKey?: string}
  unmapped: string[]
}

async function readable(p: string | undefined): Promise<string | undefined> {
  if (!p) return undefined
  return (await fs.stat(p).then(s => s.isFile(), () => false)) ? p : undefined
}

/**
 * A path config.json recorded, found in this store: as written when the store has not moved,
 * else the same path under this store's root (a store copied from another user or machine keeps
 * the old absolute paths, Windows ones included).
 */
async function locate(root: string, recorded: unknown, fallback?: string): Promise<string | undefined> {
  const p = str(recorded)
  if (p) {
    const direct = await readable(p)
    if (direct) return direct
    const parts = p.split(/[\\/]/)
    for (const anchor of ['machines', 'certs']) {
      const i = parts.lastIndexOf(anchor)
      if (i >= 0) {
        const moved = await readable(path.join(root, ...parts.slice(i)))
        if (moved) return moved
      }
    }
  }
  return readable(fallback)
}

async function plan(root: string, name: string): Promise<Plan> {
  const dir = path.join(root, 'machines', name)
  const configFile = path.join(dir, 'config.json')
  let host: Json
  try {
    host = obj(JSON.parse(await fs.readFile(configFile, 'utf8')))
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new UserError(`docker-machine host "${name}": ${e.code === 'ENOENT' ? `no ${configFile}` : `${configFile} is not valid JSON`}`)
  }
  const version = host.ConfigVersion
  if (version !== 3) {
    throw new UserError(`docker-machine host "${name}": config.json has ConfigVersion ${JSON.stringify(version)}, berth reads 3 (what docker-machine 0.6 and later write; run any docker-machine command once to migrate it)`)
  }
  if (!str(host.DriverName)) throw new UserError(`docker-machine host "${name}": config.json names no DriverName`)
  const driver = obj(host.Driver)
  const auth = obj(obj(host.HostOptions).AuthOptions)
  const unmapped: string[] = []
  const need = async (what: string, recorded: unknown, file: string) => {
    const p = await locate(root, recorded, path.join(dir, file))
    if (!p) throw new UserError(`docker-machine host "${name}": its ${what} (${str(recorded) ?? path.join(dir, file)}) is missing`)
    return p
  }
  // The machine folder's copies first: they are what `docker-machine env` points DOCKER_CERT_PATH at.
  const ca = await locate(root, path.join(dir, 'ca.pem')) ?? await need('CA certificate', auth.CaCertPath, 'ca.pem')
  const cert = await locate(root, path.join(dir, 'cert.pem')) ?? await need('client certificate', auth.ClientCertPath, 'cert.pem')
  const key = await locate(root, path.join(dir, 'key.pem')) ?? await need('client key', auth.ClientKeyPath, 'key.pem')
  const caKey = await locate(root, auth.CaPrivateKeyPath, path.join(root, 'certs', 'ca-key.pem'))
  if (!caKey) unmapped.push('CA key (ca-key.pem) not found: regenerate-certs must move the machine to berth\'s CA (--client-certs)')
  const server = await locate(root, auth.ServerCertPath, path.join(dir, 'server.pem'))
  const sshKey = await locate(root, driver.SSHKeyPath, path.join(dir, 'id_rsa'))
  return {name, configFile, host, files: {ca, cert, key, caKey, server, sshKey}, unmapped}
}

/** docker-machine's engine options in berth's shape; what has no place there is named. */
function engineOf(host: Json, port: number, defaults: EngineOptions, unmapped: string[]): EngineOptions {
  const e = obj(obj(host.HostOptions).EngineOptions)
  const auth = obj(obj(host.HostOptions).AuthOptions)
  const dropped: string[] = []
  if (strs(e.Dns).length) dropped.push('Dns')
  if (str(e.GraphDir)) dropped.push('GraphDir')
  if (e.Ipv6 === true) dropped.push('Ipv6')
  if (str(e.LogLevel)) dropped.push('LogLevel')
  if (e.SelinuxEnabled === true) dropped.push('SelinuxEnabled')
  if (dropped.length) unmapped.push(`engine options ${dropped.join(', ')}: no berth equivalent (the host keeps them until berth reprovisions it)`)
  return {
    ...defaults,
    port,
    installUrl: str(e.InstallURL) ?? defaults.installUrl,
    labels: strs(e.Labels),
    insecureRegistries: strs(e.InsecureRegistry),
    registryMirrors: strs(e.RegistryMirror),
    ...(str(e.StorageDriver) ? {storageDriver: str(e.StorageDriver)} : {}),
    opts: strs(e.ArbitraryFlags),
    env: strs(e.Env),
    tlsSans: strs(auth.ServerCertSANs),
  }
}

function swarmNote(host: Json): string | undefined {
  const s = obj(obj(host.HostOptions).SwarmOptions)
  if (s.IsSwarm !== true) return undefined
  return `swarm: docker-machine's classic Swarm${s.Master === true ? ' master' : ' agent'} (discovery ${str(s.Discovery) ?? 'none'}) is not swarm mode; its containers keep running on the host, berth does not manage them`
}

interface Probe {
  record: MachineRecord
  ip: string
  unmapped: string[]
}

/**
 * Swarm-mode membership, read from each engine's /info (a read: nothing on the host changes), so
 * swarms people formed by hand on docker-machine hosts are berth swarms after the import. A swarm
 * is named after its first imported manager; workers whose managers stay behind, after the manager
 * they know. An engine that does not answer is imported without membership, and said so.
 */
async function recordSwarms(ctx: Ctx, probes: Probe[]): Promise<void> {
  const {Engine, tlsFromDir} = await import('../engine/index.js')
  const infos = await Promise.all(probes.map(async p => {
    const engine = new Engine(p.ip, p.record.engine.port, tlsFromDir(ctx.store.machineDir(p.record.name)))
    try {
      return obj((await engine.info(4000)).Swarm)
    } catch (err) {
      p.unmapped.push(`swarm mode: the engine did not answer (${(err as Error).message.split('\n')[0]}), so no swarm membership was recorded`)
      return {}
    } finally {
      engine.close()
    }
  }))
  const byCluster = new Map<string, string>()
  const managerCluster = new Map<string, string>()
  probes.forEach((p, i) => {
    const sw = infos[i]
    const cluster = str(obj(sw.Cluster).ID)
    if (sw.LocalNodeState !== 'active' || sw.ControlAvailable !== true || !cluster) return
    if (!byCluster.has(cluster)) byCluster.set(cluster, p.record.name)
    managerCluster.set(str(sw.NodeID) ?? '', cluster)
  })
  for (const [i, p] of probes.entries()) {
    const sw = infos[i]
    if (sw.LocalNodeState !== 'active') continue
    const manager = sw.ControlAvailable === true
    const remote = Array.isArray(sw.RemoteManagers) ? sw.RemoteManagers.map(m => str(obj(m).NodeID)).filter((x): x is string => Boolean(x)) : []
    const cluster = manager ? str(obj(sw.Cluster).ID) : remote.map(id => managerCluster.get(id)).find(Boolean)
    const name = (cluster && byCluster.get(cluster)) ?? `swarm-${(remote[0] ?? str(sw.NodeID) ?? 'unknown').slice(0, 12)}`
    p.record.swarm = {name, manager, labels: {}, ...(str(sw.NodeAddr) ? {advertiseAddr: str(sw.NodeAddr)} : {}), ...(str(sw.NodeID) ? {nodeId: str(sw.NodeID)} : {})}
    await ctx.store.save(p.record)
  }
  for (const p of probes) {
    if (p.record.adopted) p.record.adopted.unmapped = p.unmapped
    if (p.unmapped.length) await ctx.store.save(p.record)
  }
}

/** The berth driver that adopts a docker-machine driver: the one of the same name, else generic. */
async function adopterFor(ctx: Ctx, dmDriver: string): Promise<Driver> {
  if (ctx.drivers[dmDriver]) {
    const d = await loadDriver(ctx, dmDriver)
    if (d.adoptDockerMachine) return d
  }
  return loadDriver(ctx, 'generic')
}

/**
 * Import every machine of a docker-machine store (or the named ones), then (unless probe is
 * false) read each engine's swarm-mode membership. All are read and checked before anything is written: an unreadable host or a name this store already has stops the
 * import with nothing made; a failure while writing removes what this import wrote.
 */
export async function importDockerMachine(ctx: Ctx, root: string, opts: {names?: string[]; probe?: boolean} = {}): Promise<DmImported[]> {
  const {store} = ctx
  const machinesDir = path.join(root, 'machines')
  const entries = await fs.readdir(machinesDir, {withFileTypes: true}).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`no docker-machine store at ${root} (${err.code === 'ENOENT' ? `no ${machinesDir}` : err.code ?? err.message}): pass its folder, or set MACHINE_STORAGE_PATH`)
  })
  const all = entries.filter(e => e.isDirectory() && !e.name.startsWith('.')).map(e => e.name).sort()
  const wanted = opts.names?.length ? opts.names : all
  for (const n of wanted) if (!all.includes(n)) throw new NotFoundError(`Host does not exist: "${n}" (not in ${machinesDir})`)
  if (!wanted.length) throw new UserError(`the docker-machine store ${root} has no machines`)
  for (const n of wanted) {
    if (!NAME_RE.test(n) || n.length > 63) throw new UserError(`docker-machine host "${n}": its name is not a valid berth machine name (letters, digits, '.' and '-'): leave it out with --name for the others`)
    if (await store.exists(n)) throw new ExistsError(`Docker machine "${n}" already exists`)
  }
  const plans = await Promise.all(wanted.map(n => plan(root, n)))
  const {MachineRecord, EngineOptions} = await recordSchemas()
  const {certSans} = await import('../certs/index.js')
  const defaults = EngineOptions.parse({})
  const made: string[] = []
  const out: DmImported[] = []
  const probes: Probe[] = []
  try {
    for (const p of plans) {
      const dir = await store.reserve(p.name)
      made.push(p.name)
      const copy = async (from: string, to: string, mode = 0o600) => writeFileAtomic(path.join(dir, to), await fs.readFile(from), mode)
      await copy(p.files.ca, 'ca.pem', 0o644)
      await copy(p.files.cert, 'cert.pem', 0o644)
      await copy(p.files.key, 'key.pem')
      if (p.files.caKey) await copy(p.files.caKey, 'ca-key.pem')
      let sshKeyPath: string | undefined
      if (p.files.sshKey) {
        sshKeyPath = path.join(dir, 'id_rsa')
        await copy(p.files.sshKey, 'id_rsa')
        if (await readable(p.files.sshKey + '.pub')) await copy(p.files.sshKey + '.pub', 'id_rsa.pub', 0o644)
      }
      const dmDriver = str(p.host.DriverName)!
      const driver = await adopterFor(ctx, dmDriver)
      const adopted: AdoptedHost<object> = await driver.adoptDockerMachine!({
        machineName: p.name, driverName: dmDriver, driver: obj(p.host.Driver), sshKeyPath,
        machineDir: dir, driverDir: path.join(store.root, driver.name),
      })
      const unmapped = [...p.unmapped, ...adopted.unmapped]
      const note = swarmNote(p.host)
      if (note) unmapped.push(note)
      const data = adopted.data as DriverData
      const h = {machineName: p.name, machineId: '', machineDir: dir, driverDir: path.join(store.root, driver.name), data, log() {}, debug() {}, save: async () => {}}
      const dmPort = obj(p.host.Driver).DockerPort
      const port = driver.enginePort?.(h) ?? (Number.isInteger(dmPort) && (dmPort as number) > 0 ? dmPort as number : 2376)
      // The address docker-machine recorded, not the driver's: asking a cloud would contact it.
      const ip = str(obj(p.host.Driver).IPAddress)
      let tls: MachineRecord['tls']
      if (p.files.server && ip) {
        try {
          tls = {ip, sans: certSans(await fs.readFile(p.files.server, 'utf8'))}
        } catch {
          unmapped.push('server.pem: unreadable, so berth cannot tell when the host\'s IP leaves its certificate')
        }
      }
      const record = MachineRecord.parse({
        schemaVersion: SCHEMA_VERSION, name: p.name, id: store.newId(), driver: driver.name, createdAt: new Date().toISOString(),
        status: 'ready', driverData: data, ssh: sshKeyPath ? {keyPath: sshKeyPath} : {},
        engine: engineOf(p.host, port, defaults, unmapped), ...(tls ? {tls} : {}),
        adopted: {from: 'docker-machine', source: p.configFile, at: new Date().toISOString(), unmapped},
        ca: 'machine',
      } satisfies Omit<MachineRecord, 'engine'> & {engine: EngineOptions})
      await store.save(record)
      out.push({name: p.name, driver: driver.name, from: dmDriver, unmapped})
      if (ip && opts.probe !== false) probes.push({record, ip, unmapped})
    }
    await recordSwarms(ctx, probes)
    for (const o of out) {
      const sw = probes.find(p => p.record.name === o.name)?.record.swarm
      if (sw) o.swarm = {name: sw.name, manager: sw.manager}
    }
  } catch (err) {
    for (const n of made) await store.remove(n).catch(() => {})
    throw err
  }
  return out
}
