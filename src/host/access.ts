/**
 * Access to one existing machine (libmachine's host handle): its driver, engine address, SSH
 * session and state. Lifecycle (machine/) and swarms (swarm/) both stand on this layer.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {Driver, DriverData, DriverLoaders, MachineHandle, MachineState, SSHEndpoint} from '../sdk/index.js'
import {Engine, tlsFromDir} from '../engine/index.js'
import {errorMessage, NotFoundError, writeFileAtomic} from '../core/index.js'
import type {MachineRecord, Store} from '../store/index.js'
import type {SSHSession} from '../ssh/index.js'

// SSH loads only when a command needs it: ls and env stay fast.
const ssh = () => import('../ssh/index.js')

export type Progress = (machine: string, message: string) => void

export interface Ctx {
  store: Store
  /** The driver registry: given by the composition root (commands/), a fake one in unit tests. */
  drivers: DriverLoaders
  progress?: Progress
  debug?: (machine: string, line: string) => void
  warn?: (message: string) => void
  signal?: AbortSignal
}

export async function loadDriver(ctx: Ctx, name: string): Promise<Driver> {
  const mod = ctx.drivers[name]
  if (!mod) throw new NotFoundError(`unknown driver "${name}" (available: ${Object.keys(ctx.drivers).join(', ')})`)
  return mod.load()
}

export function handleFor(ctx: Ctx, record: MachineRecord): MachineHandle {
  return {
    machineName: record.name,
    machineId: record.id,
    machineDir: ctx.store.machineDir(record.name),
    driverDir: path.join(ctx.store.root, record.driver),
    data: record.driverData,
    signal: ctx.signal,
    log: msg => ctx.progress?.(record.name, msg),
    debug: line => ctx.debug?.(record.name, line),
    save: async data => {
      // The driver's own type, recorded as the JSON object it is.
      record.driverData = data as DriverData
      await ctx.store.save(record)
    },
  }
}

export async function engineFor(ctx: Ctx, record: MachineRecord, driver?: Driver): Promise<Engine> {
  const d = driver ?? await loadDriver(ctx, record.driver)
  const h = handleFor(ctx, record)
  const ip = await d.ip(h)
  return new Engine(ip, d.enginePort?.(h) ?? record.engine.port, tlsFromDir(ctx.store.machineDir(record.name)))
}

/**
 * The folder of the CA behind a machine's certificates: the machine's own for one imported with
 * its CA (record.ca = 'machine'), else the store's certs/. The client identity berth speaks TLS
 * with is always the machine folder's ca.pem, cert.pem and key.pem (engineFor).
 */
export function caDirFor(ctx: Ctx, record: MachineRecord): string {
  return record.ca === 'machine' ? ctx.store.machineDir(record.name) : ctx.store.certsDir
}

export async function waitEngine(ctx: Ctx, record: MachineRecord, driver: Driver, timeoutMs = 60_000): Promise<void> {
  const engine = await engineFor(ctx, record, driver)
  try {
    await engine.waitReady(timeoutMs, ctx.signal)
  } finally {
    engine.close()
  }
}

export async function sshEndpoint(ctx: Ctx, record: MachineRecord): Promise<SSHEndpoint> {
  const driver = await loadDriver(ctx, record.driver)
  return driver.sshEndpoint(handleFor(ctx, record))
}

/**
 * One SSH connection to a machine, with its host key pinned (recorded on first contact). A
 * create's first contact (`firstContact`) leaves the record's save to the create's next one: a
 * killed create is removed without SSH, and each save is a write and two fsyncs per host.
 */
export async function openSSH(ctx: Ctx, record: MachineRecord, opts: {timeoutSec?: number; firstContact?: boolean; keepalive?: boolean} = {}): Promise<SSHSession> {
  const ep = await sshEndpoint(ctx, record)
  const keyPath = ep.privateKeyPath ?? record.ssh.keyPath
  const session = await (await ssh()).connect({
    host: ep.host, port: ep.port, user: ep.user,
    privateKey: keyPath ? await fs.readFile(keyPath, 'utf8') : undefined,
    agent: ep.agent ? process.env.SSH_AUTH_SOCK : undefined,
    hostKey: record.ssh.hostKey,
    timeoutMs: (opts.timeoutSec ?? 20) * 1000,
    signal: ctx.signal,
    debug: ctx.debug ? (l: string) => ctx.debug!(record.name, l) : undefined,
    keepalive: opts.keepalive,
  })
  if (!record.ssh.hostKey) {
    record.ssh.hostKey = session.hostKey
    // known_hosts first, without its own folder fsync: the record's save commits both.
    await writeKnownHosts(ctx.store.machineDir(record.name), ep, session.hostKey, {syncDir: false})
    if (!opts.firstContact) await ctx.store.save(record)
  }
  return session
}

export async function writeKnownHosts(dir: string, ep: SSHEndpoint, key: {type: string; key: string}, opts: {syncDir?: boolean} = {}): Promise<void> {
  const host = ep.port === 22 ? ep.host : `[${ep.host}]:${ep.port}`
  await writeFileAtomic(path.join(dir, 'known_hosts'), `${host} ${key.type} ${key.key}\n`, 0o600, opts)
}

export interface MachineStatus {
  state: MachineState | 'Creating'
  error?: string
}

/** State for ls/status: interrupted creates show as Error, not as whatever the driver sees. */
export async function machineState(ctx: Ctx, record: MachineRecord): Promise<MachineStatus> {
  if (record.status === 'creating') {
    if (await ctx.store.busy(record.name)) return {state: 'Creating'}
    return {state: 'Error', error: 'create was interrupted: run "berth rm" to remove what it made'}
  }
  if (record.status === 'error') return {state: 'Error', error: record.error}
  const driver = await loadDriver(ctx, record.driver)
  try {
    return {state: await driver.state(handleFor(ctx, record))}
  } catch (err) {
    return {state: 'Error', error: errorMessage(err)}
  }
}

/**
 * Why a machine's engine does not answer a ping, or undefined when it does: the host can run
 * while its dockerd is dead, and a machine without its engine is not the machine the user wants.
 */
export async function engineProblem(ctx: Ctx, record: MachineRecord, timeoutMs = 5000): Promise<string | undefined> {
  let engine: Engine | undefined
  try {
    engine = await engineFor(ctx, record)
    await engine.ping(timeoutMs)
    return undefined
  } catch (err) {
    return errorMessage(err)
  } finally {
    engine?.close()
  }
}

/** A note when the host's IP is no longer covered by its server certificate. */
export async function ipDrift(ctx: Ctx, record: MachineRecord): Promise<string | undefined> {
  if (!record.tls) return undefined
  const driver = await loadDriver(ctx, record.driver)
  const ip = await driver.ip(handleFor(ctx, record))
  if (record.tls.sans.includes(ip)) return undefined
  return `the IP of "${record.name}" changed from ${record.tls.ip} to ${ip}, which its certificate does not cover: run "berth regenerate-certs ${record.name}"`
}

export async function withLock<T>(ctx: Ctx, name: string, fn: (record: MachineRecord) => Promise<T>): Promise<T> {
  await ctx.store.load(name) // a clear "does not exist" before touching the folder
  const lock = await ctx.store.lock(name)
  try {
    return await fn(await ctx.store.load(name))
  } finally {
    await lock.release()
  }
}
