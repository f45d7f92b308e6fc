/**
 * What `up` would do, from the file and the store alone (no cloud call): pure, so it is
 * tested without machines. Only machines whose origin is this file are ever changed or removed.
 */
import {MESH_DEFAULTS} from '../mesh/index.js'
import type {MachineRecord} from '../store/index.js'
import type {ClusterSpec, DesiredMachine, SwarmMode} from './load.js'

type PlanAction = 'create' | 'keep' | 'change' | 'remove'

export interface PlanItem {
  action: PlanAction
  name: string
  group: string
  driver: string
  role: 'manager' | 'worker'
  /** For change: what differs, e.g. "labels: +tier=front", "role: worker -> manager". */
  changes: string[]
}

export interface Plan {
  file: string
  swarm?: string
  /** The swarm's mode and mesh, as `up` leaves them (a mesh's subnet and port: the swarm's own, else the file's or the defaults). */
  mode?: SwarmMode
  mesh?: {kind: 'wireguard'; subnet: string; port: number}
  items: PlanItem[]
  /** Machines in the way (same name, not from this file; another driver; not ready): `up` refuses. */
  conflicts: string[]
  /** Steps that would lose the swarm's manager quorum: `up` needs --force for them. */
  risks: string[]
  changed: boolean
}

type Rec = Pick<MachineRecord, 'name' | 'driver' | 'status' | 'swarm' | 'origin' | 'mesh'>

function labelDiff(want: Record<string, string>, have: Record<string, string>): string | undefined {
  const parts: string[] = []
  for (const [k, v] of Object.entries(want)) {
    if (!(k in have)) parts.push(`+${k}=${v}`)
    else if (have[k] !== v) parts.push(`${k}: ${have[k]} -> ${v}`)
  }
  for (const k of Object.keys(have)) if (!(k in want)) parts.push(`-${k}`)
  return parts.length ? `labels: ${parts.join(', ')}` : undefined
}

function compare(spec: ClusterSpec, m: DesiredMachine, r: Rec, conflicts: string[]): string[] {
  const changes: string[] = []
  if (r.origin?.file !== spec.file) {
    conflicts.push(`machine "${m.name}" exists and was not made from ${spec.file}${r.origin ? ` (it came from ${r.origin.file})` : ''}: rename the group or remove the machine`)
    return changes
  }
  if (r.driver !== m.driver) conflicts.push(`machine "${m.name}" has driver ${r.driver}, the file says ${m.driver}: berth does not change a machine's driver; remove it first (berth rm ${m.name})`)
  if (r.status !== 'ready') conflicts.push(`machine "${m.name}" is ${r.status}: remove it first (berth rm -f ${m.name}), then up again`)
  if (r.origin.group !== m.group) changes.push(`group: ${r.origin.group} -> ${m.group}`)
  if (spec.swarm) {
    if (!r.swarm) changes.push(`join swarm ${spec.swarm.name} as ${m.role}`)
    else if (r.swarm.name !== spec.swarm.name) conflicts.push(`machine "${m.name}" is in swarm ${r.swarm.name}, the file says ${spec.swarm.name}`)
    else {
      const manager = m.role === 'manager'
      if (r.swarm.manager !== manager) changes.push(`role: ${r.swarm.manager ? 'manager' : 'worker'} -> ${m.role}`)
      // A classic member's record also holds berth's own labels, which the file does not set.
      const have = Object.fromEntries(Object.entries(r.swarm.labels ?? {}).filter(([k]) => r.swarm!.mode !== 'classic' || !k.startsWith('berth.')))
      const d = labelDiff(m.labels, have)
      if (d) changes.push(d)
      // No strategy in the file means no opinion, not "remove it".
      if (spec.swarm.strategy && r.swarm.strategy !== spec.swarm.strategy) changes.push(`strategy: ${r.swarm.strategy ?? 'none'} -> ${spec.swarm.strategy}`)
    }
  }
  return changes
}

export function planCluster(spec: ClusterSpec, records: Rec[], corrupt: string[] = []): Plan {
  const byName = new Map(records.map(r => [r.name, r]))
  const items: PlanItem[] = []
  const conflicts: string[] = []
  const wanted = new Set(spec.machines.map(m => m.name))
  for (const m of spec.machines) {
    const base = {name: m.name, group: m.group, driver: m.driver, role: m.role}
    if (corrupt.includes(m.name)) {
      conflicts.push(`machine "${m.name}" has an unreadable record: berth rm -f ${m.name}`)
      continue
    }
    const r = byName.get(m.name)
    if (!r) {
      items.push({...base, action: 'create', changes: []})
      continue
    }
    const changes = compare(spec, m, r, conflicts)
    items.push({...base, action: changes.length ? 'change' : 'keep', changes})
  }
  for (const r of records) {
    if (r.origin?.file !== spec.file || wanted.has(r.name)) continue
    items.push({name: r.name, group: r.origin.group, driver: r.driver, role: r.swarm?.manager ? 'manager' : 'worker', action: 'remove', changes: []})
  }
  conflicts.push(...swarmConflicts(spec, records))
  return {
    file: spec.file, swarm: spec.swarm?.name,
    ...(spec.swarm ? {mode: spec.swarm.mode} : {}), ...(spec.swarm?.mesh ? {mesh: plannedMesh(spec, records)} : {}),
    items, conflicts,
    risks: quorumRisks(spec, records, items),
    changed: items.some(i => i.action !== 'keep'),
  }
}

const named = (rs: Rec[]) => rs.map(r => r.name).join(', ')

/**
 * A swarm keeps the mode and the mesh it was formed with (as `berth create` refuses grafting a
 * mesh onto a swarm formed without one): a file that says otherwise is refused, one line each.
 */
function swarmConflicts(spec: ClusterSpec, records: Rec[]): string[] {
  const sw = spec.swarm
  if (!sw) return []
  const members = records.filter(r => r.swarm?.name === sw.name)
  if (!members.length) return []
  const out: string[] = []
  const redo = `berth down -f ${spec.file} (or rm its machines) first, or name another swarm`
  const mode = members[0].swarm!.mode ?? 'swarm'
  if (mode !== sw.mode) {
    out.push(`swarm ${sw.name} is a ${mode === 'classic' ? 'classic group' : 'swarm-mode swarm'} (${named(members)}), the file says mode: ${sw.mode}: a swarm keeps its mode; ${redo}`)
    return out
  }
  if (mode === 'classic') return out
  const meshed = members.filter(r => r.mesh)
  if (sw.mesh && meshed.length < members.length) {
    out.push(`swarm ${sw.name} was formed without a mesh (${named(members.filter(r => !r.mesh))}): mesh: wireguard applies to a new swarm; ${redo}`)
  } else if (!sw.mesh && meshed.length) {
    out.push(`swarm ${sw.name} is on a WireGuard mesh (${named(meshed)}), the file says mesh: none: a swarm keeps its mesh; say mesh: wireguard, or ${redo}`)
  } else if (sw.mesh && meshed.length) {
    const {subnet, port} = meshed[0].mesh!
    if (sw.mesh.subnet && sw.mesh.subnet !== subnet) out.push(`swarm ${sw.name}'s mesh is on ${subnet}, the file says mesh-subnet: ${sw.mesh.subnet}: leave mesh-subnet out or make it ${subnet}`)
    if (sw.mesh.port && sw.mesh.port !== port) out.push(`swarm ${sw.name}'s mesh listens on ${port}/udp, the file says mesh-port: ${sw.mesh.port}: leave mesh-port out or make it ${port}`)
  }
  return out
}

function plannedMesh(spec: ClusterSpec, records: Rec[]): NonNullable<Plan['mesh']> {
  const have = records.find(r => r.swarm?.name === spec.swarm!.name && r.mesh)?.mesh
  const want = spec.swarm!.mesh!
  return {kind: 'wireguard', subnet: have?.subnet ?? want.subnet ?? MESH_DEFAULTS.subnet, port: have?.port ?? want.port ?? MESH_DEFAULTS.port}
}

/**
 * Raft keeps working while a majority of the managers it knows remains: removing or demoting
 * more than a minority of today's managers in one `up` is a risk only --force takes.
 */
function quorumRisks(spec: ClusterSpec, records: Rec[], items: PlanItem[]): string[] {
  // A classic group has no Raft: its head is a mark, not a vote.
  if (!spec.swarm || spec.swarm.mode === 'classic') return []
  const members = records.filter(r => r.swarm?.name === spec.swarm!.name)
  const managers = members.filter(r => r.swarm!.manager).length
  if (!managers) return []
  const lost = items.filter(i => (i.action === 'remove' && i.role === 'manager') || i.changes.some(c => c === 'role: manager -> worker')).length
  if (!lost) return []
  const removedAll = items.filter(i => i.action === 'remove').length
  const remaining = managers - lost
  const majority = Math.floor(managers / 2) + 1
  const risks: string[] = []
  if (remaining <= 0 && members.length > removedAll) risks.push(`swarm ${spec.swarm.name} would have no manager left`)
  else if (remaining > 0 && remaining < majority) risks.push(`swarm ${spec.swarm.name} would go from ${managers} managers to ${remaining}, below the quorum of ${majority}`)
  return risks
}

export function summarise(plan: Plan): string {
  const n = (a: PlanAction) => plan.items.filter(i => i.action === a).length
  if (!plan.changed) return `no changes: ${n('keep')} machine${n('keep') === 1 ? '' : 's'} as the file says`
  return `${n('create')} to create, ${n('change')} to change, ${n('remove')} to remove, ${n('keep')} unchanged`
}
