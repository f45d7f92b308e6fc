/**
 * The lifecycle of one machine (libmachine's "host"): create (driver -> SSH -> provisioner ->
 * engine -> swarm) with rollback, rm, power, certificates and reprovision (upgrade: upgrade.ts).
 * Commands call these; nothing here prints except through the progress callback.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {Driver, DriverData} from '../sdk/index.js'
import {ConflictError, errorMessage, ExistsError, UserError, writeFileAtomic} from '../core/index.js'
import {caDirFor, type Ctx, handleFor, ipDrift, loadDriver, openSSH, waitEngine, withLock} from '../host/index.js'
import type {EngineOptions, MachineRecord, Store} from '../store/index.js'
import {SCHEMA_VERSION, validateName} from '../store/index.js'
import type {MeshOptions} from '../mesh/index.js'
import type {SSHSession} from '../ssh/index.js'
import {dropGroupIfEmpty, type GroupOptions, isClassic, joinClassic, resolveMode} from './classic.js'

// Certificates, SSH and the provisioner load only when a command needs them: ls and env stay fast.
const certs = () => import('../certs/index.js')
const prov = () => import('../provision/index.js')
const ssh = () => import('../ssh/index.js')
const swarmMod = () => import('../swarm/index.js')
const registryMod = () => import('../registry/index.js')
const meshMod = () => import('../mesh/index.js')

export interface CreateOptions {
  driver: string
  driverOptions: Record<string, unknown>
  engine: EngineOptions
  sshTimeoutSec?: number
  /** Seconds to wait for the engine over TLS once provisioned (default 60). */
  engineTimeoutSec?: number
  /** Join (or initialise) this swarm, or (mode classic) enter this classic group, once the engine answers. */
  swarm?: GroupOptions
  /** Form the swarm over an encrypted mesh (--swarm-mesh); a joiner of a mesh swarm is in it without asking. */
  mesh?: MeshOptions
  /** Set by `berth up`: the cluster file and group the machine belongs to. */
  origin?: MachineRecord['origin']
}


/** Create, provision and secure one machine; on any failure, remove everything it made. */
export async function createMachine(ctx: Ctx, name: string, opts: CreateOptions): Promise<MachineRecord> {
  validateName(name)
  const driver = await loadDriver(ctx, opts.driver)
  const {store} = ctx
  const id = store.newId()
  const say = (m: string) => ctx.progress?.(name, m)
  // A group has one mode: asking for the other one is refused before anything is made.
  const classic = opts.swarm ? await resolveMode(ctx, opts.swarm) === 'classic' : false
  // Validate everything before the first thing is made: bad input leaves nothing behind.
  // Secrets stay in this process: they go to create, never into the record.
  const {data: data0, secrets} = await driver.preCreate(opts.driverOptions, {machineName: name, machineId: id, warn: m => ctx.warn?.(m)}).catch(err => {
    // docker-machine's exit status 3: a failed pre-create check, nothing made.
    throw err instanceof UserError && err.code !== 'interrupted' ? new UserError(err.message, 'precreate') : err
  })
  if (await store.exists(name)) throw new ExistsError(`Docker machine "${name}" already exists`)
  const mesh = opts.swarm ? await (await meshMod()).meshFor(ctx, opts.swarm.name, opts.mesh) : undefined
  const dir = await store.reserve(name)
  const lock = await store.lock(name)
  const record: MachineRecord = {
    schemaVersion: SCHEMA_VERSION, name, id, driver: driver.name, createdAt: new Date().toISOString(),
    status: 'creating', pid: process.pid, driverData: data0 as DriverData, ssh: {}, engine: opts.engine,
    ...(opts.origin ? {origin: opts.origin} : {}),
  }
  let session: SSHSession | undefined
  try {
    // The CA (and the certificate library) are needed only once SSH is up: let them load
    // while the driver makes the host.
    const storeCerts = certs().then(c => c.ensureStoreCerts(store.certsDir))
    storeCerts.catch(() => {})
    // The key lives in the machine's folder only, so the record is first saved with it: one
    // save (and one fsync of the folder for the three names) instead of two.
    const keys = await (await ssh()).generateKeyPair(`berth-${name}`)
    record.ssh.keyPath = path.join(dir, 'id_ed25519')
    await writeFileAtomic(record.ssh.keyPath, keys.privateKey, 0o600, {syncDir: false})
    await writeFileAtomic(record.ssh.keyPath + '.pub', keys.publicKey + '\n', 0o644, {syncDir: false})
    await store.save(record)
    say(`creating host (${driver.name})`)
    const h = handleFor(ctx, record)
    record.driverData = await driver.create({
      machineName: name, machineId: id, machineDir: dir, driverDir: h.driverDir, sshPublicKey: keys.publicKey, secrets,
      signal: ctx.signal ?? new AbortController().signal,
      // A classic member needs no swarm port in its cloud's firewall: the driver is told of no swarm.
      swarm: opts.swarm && !classic ? {name: opts.swarm.name, manager: opts.swarm.manager} : undefined,
      save: h.save, log: say, debug: h.debug, warn: m => ctx.warn?.(m),
    }, data0) as DriverData
    await store.save(record)
    say('waiting for SSH')
    session = await openSSH(ctx, record, {timeoutSec: opts.sshTimeoutSec ?? driver.sshTimeout ?? 60, firstContact: true})
    await storeCerts
    await copyClientCerts(store, dir)
    // A joiner trusts the swarm's registries and takes its mirrors before its engine first starts.
    if (opts.swarm) await (await registryMod()).trustOnJoin(ctx, record, opts.swarm.name, session, {reload: false})
    // The host key and the TLS names go on record with the next save (the join's, or "ready").
    await provisionOver(ctx, record, driver, session, (opts.engineTimeoutSec ?? 60) * 1000, {save: false})
    if (opts.swarm && classic) {
      await joinClassic(ctx, record, opts.swarm)
    } else if (opts.swarm) {
      // A busy box answers slowly: the join waits on the manager as long as SSH may take, at least a minute.
      const patienceMs = opts.swarm.patienceMs ?? Math.max(60_000, 2000 * (opts.sshTimeoutSec ?? driver.sshTimeout ?? 60))
      // Over a mesh the swarm's addresses are the mesh's: control, gossip and VXLAN all in the tunnel.
      const addr = mesh && await (await meshMod()).joinMesh(ctx, record, session, mesh, opts.swarm.name)
      await (await swarmMod()).joinSwarm(ctx, record, {...opts.swarm, patienceMs, ...(addr ? {advertiseAddr: addr, dataPathAddr: addr} : {})}, session)
      if (mesh && record.swarm?.manager) await (await meshMod()).fitIngress(ctx, record)
    }
    record.status = 'ready'
    delete record.pid
    await store.save(record)
    say('ready')
    return record
  } catch (err) {
    session?.close()
    session = undefined
    say(`failed: ${errorMessage(err)}; rolling back`)
    if (isClassic(record)) delete record.swarm
    else if (record.swarm) await (await swarmMod()).leaveSwarm({...ctx, signal: undefined}, record, {force: true}).catch(() => {})
    else if (record.swarmJoin) await (await swarmMod()).abandonJoin({...ctx, signal: undefined}, record).catch(() => {})
    if (record.mesh) await (await meshMod()).leaveMesh({...ctx, signal: undefined}, record).catch(() => {})
    const left = await rollback(ctx, record, driver)
    // The members' firewalls stop admitting what never became one of them.
    if (opts.swarm && !classic) await (await swarmMod()).afterLeave({...ctx, signal: undefined}, opts.swarm.name)
    if (left.length) {
      record.status = 'error'
      record.error = `create failed (${errorMessage(err)}); could not remove: ${left.join('; ')}`
      delete record.pid
      await store.save(record).catch(() => {})
    } else {
      await store.remove(name)
    }
    // A group this failed create made (its first member) goes with it.
    if (classic) await dropGroupIfEmpty(ctx, opts.swarm!.name).catch(() => {})
    throw err
  } finally {
    session?.close()
    await lock.release().catch(() => {})
  }
}

async function rollback(ctx: Ctx, record: MachineRecord, driver: Driver): Promise<string[]> {
  try {
    // Rollback must finish even when the user pressed Ctrl-C: run it without the abort signal.
    return await driver.remove({...handleFor(ctx, record), signal: undefined}, {force: true})
  } catch (err) {
    return [errorMessage(err)]
  }
}

async function copyClientCerts(store: Store, dir: string): Promise<void> {
  // DOCKER_CERT_PATH wants ca.pem, cert.pem and key.pem side by side, as docker-machine lays them out.
  const p = (await certs()).storeCertPaths(store.certsDir)
  await Promise.all([
    fs.copyFile(p.caPath, path.join(dir, 'ca.pem')),
    fs.copyFile(p.certPath, path.join(dir, 'cert.pem')),
    fs.copyFile(p.keyPath, path.join(dir, 'key.pem')),
  ])
  await fs.chmod(path.join(dir, 'key.pem'), 0o600)
}

/** Certificates, daemon.json and engine start over the open session, then wait for TLS. */
export async function provisionOver(ctx: Ctx, record: MachineRecord, driver: Driver, session: SSHSession, engineTimeoutMs = 60_000, opts: {save?: boolean} = {}): Promise<void> {
  const h = handleFor(ctx, record)
  const ip = await driver.ip(h)
  const addresses = (await driver.addresses?.(h)) ?? []
  const ca = await (await certs()).loadCA(caDirFor(ctx, record))
  const result = await (await prov()).provision(session, {
    machineName: record.name, driverName: record.driver, ip, addresses, engine: record.engine,
    engineDefaults: driver.engineDefaults?.(h), driverLabels: driver.labels?.(h), ca,
    step: m => ctx.progress?.(record.name, m),
  })
  record.tls = {ip, sans: result.sans}
  if (opts.save !== false) await ctx.store.save(record)
  ctx.progress?.(record.name, 'waiting for the engine over TLS')
  await waitEngine(ctx, record, driver, engineTimeoutMs)
}

export interface RemoveOptions {
  force?: boolean
  deprovision?: boolean
  /** For an imported machine (record.adopted): also leave its swarm and delete the host through its driver. */
  removeHost?: boolean
  /** The machine's whole swarm is being removed with it (rm of many): a worker need not leave first. */
  swarmGoes?: boolean
}

/**
 * rm: undo what create made. Returns what could not be removed (the record then stays). A machine
 * this store did not create (imported) is only forgotten, its host, swarm and cloud untouched
 * (bar what deprovision asks), unless removeHost.
 */
export async function removeMachine(ctx: Ctx, name: string, opts: RemoveOptions = {}): Promise<string[]> {
  const {store} = ctx
  let record: MachineRecord
  try {
    record = await store.load(name)
  } catch (err) {
    // A folder without a readable record (interrupted right after mkdir, or corrupt) goes only with -f.
    if (opts.force && await fs.access(store.machineDir(name)).then(() => true, () => false)) {
      await store.remove(name)
      return []
    }
    throw err
  }
  const lock = await store.lock(name, opts.force ? 5_000 : 60_000).catch(err => {
    if (!opts.force) throw err
    return undefined
  })
  try {
    const forgetOnly = Boolean(record.adopted) && !opts.removeHost
    // A leave updates the others' firewalls; an unfinished join or no leave at all leaves that to the end.
    const joining = record.swarmJoin?.name
    if (isClassic(record)) {
      // A classic group's engine is in no swarm: its membership goes with the record.
    } else if (record.swarm && opts.swarmGoes && !record.swarm.manager) {
      // The whole swarm is being removed: a worker's drain and leave would only move tasks onto
      // nodes about to go. Its managers still go after it, one at a time.
    } else if (record.swarm && record.status === 'ready' && !forgetOnly) {
      // Leave cleanly first, so the swarm does not keep a dead node; refusals (last manager) stop the rm.
      await (await swarmMod()).leaveSwarm(ctx, record, {force: opts.force}).catch(err => {
        // Every member goes in this rm: a manager whose engine does not answer the leave takes the swarm with it all the same.
        if (opts.swarmGoes) return ctx.warn?.(`${name}: leaving swarm ${record.swarm!.name}: ${errorMessage(err)}; removed all the same, as the whole swarm goes`)
        if (!opts.force) throw err
      })
    } else if (record.swarm && record.status === 'creating') {
      // A create killed between its join and "ready": the node is in the swarm, the create never finished.
      await (await swarmMod()).leaveSwarm(ctx, record, {force: true}).catch(() => {})
    } else if (record.swarmJoin) {
      // Killed right after asking to join: the node may be in the swarm with nothing else on record.
      await (await swarmMod()).abandonJoin(ctx, record).catch(() => {})
    }
    // Every other member drops it as a peer (also when the swarm goes with it: a peer left behind would be stale).
    if (record.mesh && !forgetOnly) await (await meshMod()).leaveMesh(ctx, record).catch(err => ctx.warn?.(`mesh on ${name}: ${errorMessage(err)}`))
    if (opts.deprovision && record.status === 'ready') {
      ctx.progress?.(name, 'deprovisioning')
      const session = await openSSH(ctx, record)
      try {
        await (await prov()).deprovision(session)
      } finally {
        session.close()
      }
    }
    if (forgetOnly) {
      ctx.progress?.(name, 'forgetting (imported: the host stays as it is)')
      await store.remove(name)
      return []
    }
    await (await registryMod()).onHostRemove(ctx, record).catch(err => ctx.warn?.(`registries on ${name}: ${errorMessage(err)}`))
    record.status = 'removing'
    await store.save(record)
    const driver = await loadDriver(ctx, record.driver)
    ctx.progress?.(name, 'removing')
    let left: string[]
    try {
      left = await driver.remove(handleFor(ctx, record), opts)
    } catch (err) {
      left = [errorMessage(err)]
    }
    if (left.length && !opts.force) {
      record.status = 'error'
      record.error = `remove incomplete: ${left.join('; ')}`
      await store.save(record)
      return left
    }
    await store.remove(name)
    if (isClassic(record)) await dropGroupIfEmpty(ctx, record.swarm!.name)
    else {
      // The others' firewalls stop admitting it (after a leave, again: a cheap no-op; a whole swarm going needs none).
      const unsynced = record.swarm?.name ?? joining
      if (unsynced && !opts.swarmGoes) await (await swarmMod()).afterLeave(ctx, unsynced)
    }
    return left
  } finally {
    await lock?.release().catch(() => {})
  }
}

export type PowerAction = 'start' | 'stop' | 'restart' | 'kill'

export async function power(ctx: Ctx, name: string, action: PowerAction): Promise<void> {
  await withLock(ctx, name, async record => {
    if (record.status !== 'ready') throw new ConflictError(`machine "${name}" is not ready (${record.status}${record.error ? `: ${record.error}` : ''})`)
    const driver = await loadDriver(ctx, record.driver)
    const h = handleFor(ctx, record)
    ctx.progress?.(name, `${action === 'stop' ? 'stopping' : action === 'kill' ? 'killing' : action + 'ing'}`)
    await driver[action](h)
    if (action === 'start' || action === 'restart') await afterStart(ctx, record, driver)
  })
}

/** After a host starts: the engine may not start by itself (no init system), so start it. */
async function afterStart(ctx: Ctx, record: MachineRecord, driver: Driver): Promise<void> {
  ctx.progress?.(record.name, 'waiting for SSH')
  const session = await openSSH(ctx, record, {timeoutSec: driver.sshTimeout ?? 60})
  try {
    const drift = await ipDrift(ctx, record)
    if (drift) {
      ctx.progress?.(record.name, 'IP changed: re-issuing certificates')
      await reissueServerCert(ctx, record, driver, session)
    }
    // The mesh before dockerd: the swarm's addresses are on it.
    if (record.mesh) await (await meshMod()).meshUp(ctx, record, session)
    await (await prov()).ensureEngineRunning(session)
    await (await registryMod()).afterHostStart(ctx, record, session).catch(err => ctx.warn?.(`registries on ${record.name}: ${errorMessage(err)}`))
  } finally {
    session.close()
  }
  ctx.progress?.(record.name, 'waiting for the engine over TLS')
  await waitEngine(ctx, record, driver)
  ctx.progress?.(record.name, 'running')
}

async function reissueServerCert(ctx: Ctx, record: MachineRecord, driver: Driver, session: SSHSession): Promise<void> {
  const h = handleFor(ctx, record)
  const ip = await driver.ip(h)
  const {gatherFacts, serverSans, installServerCert} = await prov()
  const facts = await gatherFacts(session)
  const sans = serverSans({ip, addresses: [...(await driver.addresses?.(h)) ?? [], ...facts.addresses], hostname: facts.hostname, tlsSans: record.engine.tlsSans})
  await installServerCert(session, await (await certs()).loadCA(caDirFor(ctx, record)), record.name, sans)
  record.tls = {ip, sans}
  await ctx.store.save(record)
}

/** regenerate-certs: new server cert (and with clientCerts, a new CA and client cert), engine restarted. */
export async function regenerateCerts(ctx: Ctx, name: string, opts: {clientCerts?: boolean} = {}): Promise<void> {
  const c = await certs()
  // Read before any wait: a regeneration that started meanwhile has made the new CA this one asks for.
  const replace = opts.clientCerts ? {seen: await c.storeCAStamp(ctx.store.certsDir)} : undefined
  await withLock(ctx, name, async record => {
    const driver = await loadDriver(ctx, record.driver)
    // A machine imported with its own CA moves onto the store's, whose new client cert it gets.
    if (opts.clientCerts && record.ca === 'machine') {
      delete record.ca
      await fs.rm(path.join(ctx.store.machineDir(name), 'ca-key.pem'), {force: true})
      await ctx.store.save(record)
    }
    const session = await openSSH(ctx, record)
    try {
      // docker-machine configured its engine with dockerd flags, which berth's restart replaces:
      // its hosts get the whole of berth's engine setup (certificates, daemon.json, restart).
      if (record.adopted?.from === 'docker-machine') {
        return await c.withStoreCA(ctx.store.certsDir, async () => {
          if (record.ca !== 'machine') await copyClientCerts(ctx.store, ctx.store.machineDir(name))
          await provisionOver(ctx, record, driver, session)
        }, replace)
      }
      ctx.progress?.(name, 'issuing certificates')
      await c.withStoreCA(ctx.store.certsDir, async () => {
        if (record.ca !== 'machine') await copyClientCerts(ctx.store, ctx.store.machineDir(name))
        await reissueServerCert(ctx, record, driver, session)
      }, replace)
      ctx.progress?.(name, 'restarting engine')
      const {restartEngine, gatherFacts} = await prov()
      await restartEngine(session, await gatherFacts(session), record.engine.env)
    } finally {
      session.close()
    }
    await waitEngine(ctx, record, driver)
  })
}

export async function reprovision(ctx: Ctx, name: string): Promise<void> {
  await withLock(ctx, name, async record => {
    const driver = await loadDriver(ctx, record.driver)
    if (record.ca !== 'machine') await copyClientCerts(ctx.store, ctx.store.machineDir(name))
    const session = await openSSH(ctx, record)
    try {
      await provisionOver(ctx, record, driver, session)
    } finally {
      session.close()
    }
  })
}
