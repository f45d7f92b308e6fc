/**
 * Store registries: a real distribution registry on a swarm member, trusted by every member
 * (certs.d, the store CA), optionally a pull-through cache members use as their registry mirror.
 * A create records itself first and undoes everything it did when any step fails.
 */
import {ConflictError, errorMessage, ExistsError, NotFoundError, parallel, poll, UserError} from '../core/index.js'
import {type Ctx, engineProblem, openSSH, withLock} from '../host/index.js'
import type {MachineRecord} from '../store/index.js'
import type {SSHSession} from '../ssh/index.js'
import {members, swarmIp} from '../swarm/index.js'
import {findRecord, listRecords, registriesLock, removeRecord, saveRecord, type RegistryRecord} from './records.js'
import {bcryptOnHost, ensureBinary, logTail, probe, removeFromHost, startService, writeFiles} from './host.js'

const certs = () => import('../certs/index.js')
const prov = () => import('../provision/index.js')

export interface CreateRegistryOptions {
  swarm: string
  /** The member to run it on; default: the swarm's first manager. */
  on?: string
  port?: number
  mirror?: string
  auth?: {user: string; password: string}
}

const mirrorUrl = (r: RegistryRecord) => `https://${r.address}`

function checkMirror(url: string): void {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new UserError(`--mirror must be the URL of the upstream registry, such as https://registry-1.docker.io (got "${url}")`, 'usage')
  }
  if (!/^https?:$/.test(u.protocol) || u.pathname.replace(/\/$/, '') !== '') throw new UserError(`--mirror must be an http(s) URL with no path (got "${url}")`, 'usage')
}

export async function createRegistry(ctx: Ctx, opts: CreateRegistryOptions): Promise<RegistryRecord> {
  const port = opts.port ?? 5000
  if (opts.mirror) checkMirror(opts.mirror)
  if (opts.auth && !/^[a-zA-Z0-9._-]+$/.test(opts.auth.user)) throw new UserError(`--auth user must be letters, digits, ".", "_" or "-" (got "${opts.auth.user}")`, 'usage')
  if (opts.auth && !opts.auth.password) throw new UserError('--auth needs a password (BERTH_REGISTRY_PASSWORD, stdin or the prompt): it was empty', 'usage')
  const all = await members(ctx, opts.swarm)
  if (!all.length) throw new NotFoundError(`swarm "${opts.swarm}" has no members (see "berth swarm ls")`)
  const host = opts.on ? all.find(r => r.name === opts.on) : all.find(r => r.swarm!.manager)
  if (!host) throw new NotFoundError(opts.on ? `machine "${opts.on}" is not a member of swarm "${opts.swarm}"` : `swarm "${opts.swarm}" has no manager`)
  const problem = host.status === 'ready' ? await engineProblem(ctx, host) : `it is ${host.status}`
  if (problem) throw new UserError(`the registry host "${host.name}" is down: ${problem}`, 'not_running')
  const lock = await registriesLock(ctx.store)
  let session: SSHSession | undefined
  let record: RegistryRecord | undefined
  const trusted: MachineRecord[] = []
  try {
    const name = `${host.name}:${port}`
    if ((await listRecords(ctx.store)).some(r => r.name === name)) throw new ExistsError(`registry ${name} already exists`)
    const address = `${await swarmIp(ctx, host)}:${port}`
    session = await openSSH(ctx, host)
    const service = (await session.exec('test -d /run/systemd/system')).code === 0 ? 'systemd' : 'process'
    record = {name, swarm: opts.swarm, machine: host.name, port, address, status: 'creating', createdAt: new Date().toISOString(), service,
      ...(opts.mirror ? {mirror: opts.mirror} : {}), ...(opts.auth ? {user: opts.auth.user} : {})}
    const say = (m: string) => ctx.progress?.(host.name, m)
    // Refuse a taken port before anything is written: the registry would only crash-loop on it.
    if ((await session.exec(`timeout 2 bash -c '</dev/tcp/127.0.0.1/${port}' 2>/dev/null`)).code === 0) throw new ConflictError(`port ${port} is already in use on "${host.name}": choose another --port`)
    await saveRecord(ctx.store, record)
    say('installing docker-registry')
    await ensureBinary(session)
    const ca = await (await certs()).loadCA(ctx.store.certsDir)
    const server = await (await certs()).issue(ca, {cn: `berth registry ${name}`, usage: 'server', sans: [...new Set([address.replace(/:\d+$/, ''), host.tls?.ip, 'localhost', '127.0.0.1'].filter((s): s is string => !!s))]})
    const htpasswd = opts.auth ? `${opts.auth.user}:${await bcryptOnHost(session, opts.auth.password)}\n` : undefined
    say(`starting the registry on ${address}`)
    await writeFiles(session, record, {caPem: ca.certPem, certPem: server.certPem, keyPem: server.keyPem, htpasswd})
    await startService(session, record)
    await waitUp(session, record, ca.certPem, ctx.signal)
    say('trusting it on every member')
    await trustAll(ctx, record, all, ca.certPem, trusted)
    record.status = 'ready'
    await saveRecord(ctx.store, record)
    return record
  } catch (err) {
    if (record) {
      ctx.progress?.(host.name, `failed: ${errorMessage(err)}; rolling back`)
      await untrustAll({...ctx, signal: undefined}, record, trusted)
      if (session) await removeFromHost(session, record).catch(e => ctx.warn?.(`could not remove the registry from ${host.name}: ${errorMessage(e)}`))
      await removeRecord(ctx.store, record.name)
    }
    throw err
  } finally {
    session?.close()
    await lock.release()
  }
}

async function waitUp(s: SSHSession, r: RegistryRecord, caPem: string, signal?: AbortSignal): Promise<void> {
  const t0 = Date.now()
  await poll(async () => {
    const status = await probe(s, r, caPem).catch(() => 0)
    if (status === 200 || (r.user && status === 401)) return true
    // A registry that cannot start exits at once and is restarted in a loop: its log says why.
    const why = Date.now() - t0 > 1500 ? await logTail(s, r).catch(() => '') : ''
    if (/fatal|address already in use|permission denied/i.test(why)) throw new UserError(`the registry on ${r.address} did not start: ${why}`)
    return undefined
  }, {
    timeoutMs: 20_000, intervalMs: 200, backoff: 1.5, maxIntervalMs: 1000, signal, fatal: err => err instanceof UserError,
    timeoutError: async () => new UserError(`the registry on ${r.address} did not answer within 20 s: ${await logTail(s, r).catch(() => '') || 'no log line'}`),
  })
}

/** certs.d on each member, and for a mirror its entry in their registry-mirrors; down members are warned about. */
async function trustAll(ctx: Ctx, r: RegistryRecord, targets: MachineRecord[], caPem: string, done: MachineRecord[]): Promise<void> {
  const res = await parallel(targets, 8, async m => {
    if (m.status !== 'ready') return
    await withLock(ctx, m.name, async rec => {
      const s = await openSSH(ctx, rec, {timeoutSec: 10})
      try {
        done.push(rec)
        await (await prov()).trustRegistry(s, r.address, caPem)
        if (r.mirror) await setMirror(ctx, rec, s, mirrorUrl(r), true)
      } finally {
        s.close()
      }
    })
  })
  res.forEach((x, i) => {
    if (x.status === 'rejected') ctx.warn?.(`${targets[i].name} does not trust registry ${r.address} yet (${errorMessage(x.reason)}): it will on its next "berth start"`)
  })
}

async function setMirror(ctx: Ctx, rec: MachineRecord, s: SSHSession, url: string, on: boolean): Promise<void> {
  const has = rec.engine.registryMirrors.includes(url)
  if (has === on) return
  rec.engine.registryMirrors = on ? [...rec.engine.registryMirrors, url] : rec.engine.registryMirrors.filter(u => u !== url)
  await ctx.store.save(rec)
  await (await prov()).setRegistryMirrors(s, rec.engine.registryMirrors)
}

async function untrustAll(ctx: Ctx, r: RegistryRecord, targets: MachineRecord[]): Promise<string[]> {
  const res = await parallel(targets, 8, async m => withLock(ctx, m.name, async rec => {
    const s = await openSSH(ctx, rec, {timeoutSec: 10})
    try {
      await (await prov()).untrustRegistry(s, r.address)
      await setMirror(ctx, rec, s, mirrorUrl(r), false)
    } finally {
      s.close()
    }
  }))
  return res.flatMap((x, i) => (x.status === 'rejected' ? [`${targets[i].name}: ${errorMessage(x.reason)}`] : []))
}

/** Stop and remove a registry and every member's trust in it; what could not be undone is warned about. */
export async function removeRegistry(ctx: Ctx, ref: string): Promise<RegistryRecord> {
  const lock = await registriesLock(ctx.store)
  try {
    const r = await findRecord(ctx.store, ref)
    const all = (await members(ctx, r.swarm)).filter(m => m.status === 'ready')
    // Its host may have left the swarm since: the registry is still there to stop.
    const host = await ctx.store.load(r.machine).catch(() => undefined)
    if (host?.status === 'ready') {
      const s = await openSSH(ctx, host, {timeoutSec: 10}).catch(err => {
        ctx.warn?.(`registry ${r.address}: its host "${r.machine}" does not answer (${errorMessage(err)}): its files stay there`)
        return undefined
      })
      try {
        if (s) await removeFromHost(s, r)
      } finally {
        s?.close()
      }
    }
    for (const left of await untrustAll(ctx, r, all)) ctx.warn?.(`registry ${r.address}: trust not removed on ${left}`)
    await removeRecord(ctx.store, r.name)
    return r
  } finally {
    await lock.release()
  }
}

export interface RegistryRow extends RegistryRecord {
  url: string
  state: string
}

/** Registries with a live check from here (GET /v2/ against the store CA). */
export async function listRegistries(ctx: Ctx, opts: {swarm?: string; timeoutMs?: number} = {}): Promise<RegistryRow[]> {
  const recs = (await listRecords(ctx.store)).filter(r => !opts.swarm || r.swarm === opts.swarm)
  if (!recs.length) return []
  const ca = (await (await certs()).loadCA(ctx.store.certsDir)).certPem
  return Promise.all(recs.map(async r => ({...r, url: `https://${r.address}`, state: r.status === 'creating' ? 'creating' : await liveState(r, ca, opts.timeoutMs ?? 3000)})))
}

export async function inspectRegistry(ctx: Ctx, ref: string): Promise<RegistryRow> {
  const r = await findRecord(ctx.store, ref)
  return (await listRegistries(ctx, {swarm: r.swarm})).find(x => x.name === r.name)!
}

async function liveState(r: RegistryRecord, caPem: string, timeoutMs: number): Promise<string> {
  const https = await import('node:https')
  const host = r.address.replace(/:\d+$/, '')
  return new Promise(resolve => {
    const req = https.request({host, port: r.port, path: '/v2/', ca: caPem, timeout: timeoutMs, agent: false}, res => {
      res.resume()
      resolve(res.statusCode === 200 || res.statusCode === 401 ? 'up' : `HTTP ${res.statusCode}`)
    })
    req.on('timeout', () => req.destroy(new Error('no answer')))
    req.on('error', err => resolve(`down (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`))
    req.end()
  })
}
