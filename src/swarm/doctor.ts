/**
 * `berth swarm doctor`: every swarm port between every pair of members, probed for real (see
 * doctor-probe.ts), NAT told apart from a firewall, each blocked path explained with what to do.
 * The same probes guard a join: a manager its workers cannot reach is refused before the join.
 */
import {NotFoundError, poll, type PortPath, SWARM_PORTS, UserError} from '../core/index.js'
import {type Ctx, openSSH} from '../host/index.js'
import type {MachineRecord} from '../store/index.js'
import type {SSHSession} from '../ssh/index.js'
import {members, swarmIp} from './members.js'
import {type Observed, probe, type ProbeMember} from './doctor-probe.js'

const meshMod = () => import('../mesh/index.js')

export type DoctorPath = PortPath

export interface DoctorMember {
  name: string
  address: string
  addresses: string[]
  /** Behind NAT: the address the others see its packets come from. */
  nat?: string
  error?: string
}

export interface DoctorReport {
  swarm: string
  ok: boolean
  members: DoctorMember[]
  paths: DoctorPath[]
}

export const OPTIONS_FOR_NAT = 'an encrypted mesh the NAT\'d machine dials out to (--swarm-mesh wireguard, on a new swarm), classic cluster mode (--swarm-mode classic: berth swarm manage dials out to each engine, no inbound port), or a manager the others can reach (make a machine outside the NAT the manager and join this one as a worker)'

/** Where each member saw each other one come from: a source that is none of the sender's own addresses is NAT. */
function natOf(obs: Observed[]): Map<string, string> {
  const out = new Map<string, string>()
  for (const o of obs) {
    for (const s of o.seen) {
      const sender = s.from ? obs.find(x => x.name === s.from) : undefined
      if (sender && sender.own.length && !sender.own.includes(s.src)) out.set(sender.name, s.src)
    }
  }
  return out
}

/** The INPUT rule of the far end that drops this port, or its DROP policy. */
function ruleFor(rules: string[], port: number, proto: string): string | undefined {
  const hit = rules.find(r => /-j (DROP|REJECT)/.test(r) && r.includes(`-p ${proto}`) && new RegExp(`--dports? (\\S+,)?${port}\\b`).test(r))
  return hit ?? rules.find(r => r === '-P INPUT DROP')
}

function explain(p: DoctorPath, from: Observed, to: Observed, nat: Map<string, string>, address: string): {reason: string; fix: string} {
  const tried = from.tried[`${to.name}/${p.port}/${p.proto}`]
  const toNat = nat.get(to.name)
  if (toNat) {
    return {
      reason: `${to.name} is behind NAT: it sees itself as ${address}, the others see it as ${toNat}, and nothing can open a connection to it from outside`,
      fix: `use ${OPTIONS_FOR_NAT}`,
    }
  }
  if (tried && /unreachable|no route/i.test(tried)) {
    return {reason: `${from.name} has no route to ${address} (${tried.toLowerCase()}): the address is private to another network`, fix: `advertise an address of ${to.name} that ${from.name} can reach (--swarm-advertise-addr), or connect the networks`}
  }
  const rule = ruleFor(to.rules, p.port, p.proto)
  if (rule) return {reason: `${to.name}'s firewall drops it: ${rule}`, fix: `admit ${p.port}/${p.proto} from ${from.name} (${nat.get(from.name) ?? from.own[0] ?? '?'}) on ${to.name}`}
  return {
    reason: `dropped between ${from.name} and ${to.name} (a firewall on the way: a router, a cloud security group or NSG)`,
    fix: `allow ${p.port}/${p.proto} from ${from.name} (${nat.get(from.name) ?? from.own[0] ?? '?'}) to ${address}`,
  }
}

/** Probe every pair of the given members and judge every path. */
async function diagnose(swarm: string, ms: ProbeMember[]): Promise<DoctorReport> {
  return judge(swarm, ms, await probe(ms))
}

/** Every path from what the listeners saw and the senders were told. */
export function judge(swarm: string, ms: Array<{name: string; address: string}>, obs: Observed[]): DoctorReport {
  const nat = natOf(obs)
  const paths: DoctorPath[] = []
  for (const [i, from] of ms.entries()) {
    for (const [j, to] of ms.entries()) {
      if (i === j) continue
      const heard = obs[j].seen
      const fromObs = obs[i]
      const udpSeen = heard.find(s => s.from === from.name)?.src
      for (const sp of SWARM_PORTS) {
        const key = `${to.name}/${sp.port}/${sp.proto}`
        const hit = sp.proto === 'udp'
          ? heard.find(s => s.proto === 'udp' && s.port === sp.port && s.from === from.name)
          : heard.find(s => s.proto === 'tcp' && s.port === sp.port && (fromObs.own.includes(s.src) || s.src === udpSeen))
        const answered = fromObs.tried[key] === 'connected' || fromObs.tried[key] === 'refused'
        const p: DoctorPath = {from: from.name, to: to.name, address: to.address, port: sp.port, proto: sp.proto, ok: Boolean(hit) || (sp.proto === 'tcp' && answered)}
        if (hit) p.seenAs = hit.src
        if (!p.ok) Object.assign(p, obs[j].error ? {reason: `${to.name} could not listen: ${obs[j].error}`, fix: 'check that perl is installed and berth\'s SSH user is root or may sudo'} : explain(p, fromObs, obs[j], nat, to.address))
        paths.push(p)
      }
    }
  }
  const report: DoctorReport = {
    swarm, ok: paths.every(p => p.ok),
    members: ms.map((m, i) => ({name: m.name, address: m.address, addresses: obs[i].own, ...(nat.has(m.name) ? {nat: nat.get(m.name)} : {}), ...(obs[i].error ? {error: obs[i].error} : {})})),
    paths,
  }
  return report
}

type Member = ProbeMember & {record: MachineRecord}

/**
 * SSH sessions to managers, shared by the pre-join checks of one process: fifty joiners each
 * opening a session of its own to the one manager paid fifty handshakes. A session serves at most
 * PROBES_PER_SESSION checks at once (each holds two channels; sshd allows ten a connection), and
 * stays open, unreferenced, for a while after its last user, for the next joiner to find.
 */
interface Pooled {
  session: Promise<SSHSession>
  users: number
  timer?: NodeJS.Timeout
}
const pool = new Map<string, Pooled[]>()
const PROBES_PER_SESSION = 4
const LINGER_MS = 10_000

async function borrowSSH(ctx: Ctx, record: MachineRecord): Promise<{session: SSHSession; release: () => void}> {
  const key = `${ctx.store.root}\0${record.name}\0${record.id}`
  const list = pool.get(key) ?? []
  pool.set(key, list)
  const drop = (x: Pooled) => {
    clearTimeout(x.timer)
    const i = list.indexOf(x)
    if (i >= 0) list.splice(i, 1)
    if (!list.length && pool.get(key) === list) pool.delete(key)
  }
  let x = list.find(p => p.users < PROBES_PER_SESSION)
  if (!x) {
    // No keepalives: their timer would hold the process while the session idles.
    const fresh: Pooled = {users: 0, session: openSSH(ctx, record, {keepalive: false})}
    fresh.session.then(s => s.client.once('close', () => drop(fresh)), () => drop(fresh))
    list.push(fresh)
    x = fresh
  }
  const held = x
  held.users++
  clearTimeout(held.timer)
  let session: SSHSession
  try {
    session = await held.session
  } catch (err) {
    held.users--
    throw err
  }
  session.setIdle(false)
  let released = false
  return {
    session,
    release: () => {
      if (released) return
      released = true
      if (--held.users > 0) return
      session.setIdle(true)
      held.timer = setTimeout(() => {
        drop(held)
        session.close()
      }, LINGER_MS).unref()
    },
  }
}

/** Sessions for the members: the given ones, else new ones (shared: borrowed from the pool above). */
async function withSessions<T>(ctx: Ctx, recs: Array<{record: MachineRecord; session?: SSHSession}>, fn: (ms: Member[]) => Promise<T>, opts: {shared?: boolean} = {}): Promise<T> {
  const done: Array<() => void> = []
  try {
    const ms = await Promise.all(recs.map(async ({record, session}) => {
      let s = session
      if (!s && opts.shared) {
        const b = await borrowSSH(ctx, record)
        done.push(b.release)
        s = b.session
      } else if (!s) {
        const opened = await openSSH(ctx, record)
        done.push(() => opened.close())
        s = opened
      }
      return {name: record.name, address: record.mesh?.address ?? record.swarm?.advertiseAddr ?? await swarmIp(ctx, record), session: s, record}
    }))
    return await fn(ms)
  } finally {
    for (const d of done) d()
  }
}

export async function swarmDoctor(ctx: Ctx, swarm: string): Promise<DoctorReport> {
  const recs = await members(ctx, swarm)
  if (!recs.length) throw new NotFoundError(`swarm "${swarm}" does not exist`)
  if (recs.length < 2) return {swarm, ok: true, members: recs.map(r => ({name: r.name, address: r.swarm?.advertiseAddr ?? '', addresses: []})), paths: []}
  return withSessions(ctx, recs.map(record => ({record})), async ms => {
    const report = await diagnose(swarm, ms)
    // Over a mesh the ports above travel in the tunnels: the tunnels' own UDP path is one more column.
    if (!ms.some(m => m.record.mesh)) return report
    const wg = await (await meshMod()).meshPaths(ms.filter(m => m.record.mesh))
    return {...report, ok: report.ok && wg.every(p => p.ok), paths: [...report.paths, ...wg]}
  })
}

/** Without these the join fails or leaves a node the swarm cannot manage; 4789/udp only cuts overlays. */
const NEEDED = new Set(['2377/tcp', '7946/tcp', '7946/udp'])

/**
 * Before a machine joins through a manager: the manager's ports must be reachable from the joiner,
 * or the join would hang or leave a member the swarm cannot manage. Refused with the reason and
 * the choices; the rest (a joiner behind NAT, overlay traffic blocked) is a warning. A probe that
 * could not run (no perl, no root) decides nothing: the join's own port check still comes after.
 */
/**
 * A NAT is structural: refused at once. A path that a rule or the way drops may be a firewall
 * still being applied (cloud security groups take seconds to converge) or a box too busy to
 * answer: it is checked again with backoff until patienceMs, then refused naming the rule.
 */
export async function checkBeforeJoin(ctx: Ctx, swarm: string, joiner: MachineRecord, manager: MachineRecord, session?: SSHSession, patienceMs = 0): Promise<void> {
  const port = (p: DoctorPath) => `${p.port}/${p.proto}`
  type Verdict = {report: DoctorReport; toManager: DoctorPath[]; fatal: DoctorPath[]; broken?: DoctorMember}
  const refusal = ({fatal, toManager}: Verdict) => {
    const first = fatal[0]
    const nat = first.reason?.includes('behind NAT')
    return new UserError(`swarm ${swarm}: ${joiner.name} cannot reach manager ${manager.name} at ${first.address} on ${toManager.map(port).join(', ')}: ${first.reason}; nothing joined. ${nat ? `Choose ${OPTIONS_FOR_NAT}` : `Fix: ${first.fix}`}`)
  }
  let last: Verdict | undefined
  const deadline = Date.now() + patienceMs
  const verdict = await poll(async () => {
    const report = await withSessions(ctx, [{record: joiner, session}, {record: manager}], ms => diagnose(swarm, ms), {shared: true})
    const toManager = report.paths.filter(p => p.from === joiner.name && !p.ok)
    const v: Verdict = {report, toManager, fatal: toManager.filter(p => NEEDED.has(port(p))), broken: report.members.find(m => m.error)}
    if (v.broken || !v.fatal.length || v.fatal.some(p => p.reason?.includes('behind NAT'))) return v
    last = v
    const left = deadline - Date.now()
    if (left > 0) ctx.progress?.(joiner.name, `no way yet to ${manager.name} on ${v.fatal.map(port).join(', ')} (${v.fatal[0].reason}): checking again for up to ${Math.round(left / 1000)} s`)
    return undefined
  }, {
    timeoutMs: patienceMs, intervalMs: 2000, backoff: 2, maxIntervalMs: 10_000, signal: ctx.signal,
    // An SSH session that fails is not a path that is still converging: it ends the check as it is.
    fatal: () => true,
    timeoutError: () => refusal(last!),
  })
  if (verdict.broken) {
    ctx.warn?.(`swarm ${swarm}: paths between ${joiner.name} and ${manager.name} not checked: ${verdict.broken.name}: ${verdict.broken.error}`)
    return
  }
  if (verdict.fatal.length) throw refusal(verdict)
  const {report, toManager} = verdict
  const rest = [...toManager, ...report.paths.filter(p => p.from === manager.name && !p.ok)]
  for (const from of [joiner.name, manager.name]) {
    const ps = rest.filter(p => p.from === from)
    if (ps.length) ctx.warn?.(`swarm ${swarm}: ${from} cannot reach ${ps[0].to} on ${ps.map(port).join(', ')} (${ps[0].reason}): it joins, but tasks and overlay traffic between them will not flow`)
  }
}
