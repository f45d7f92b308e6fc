/** A swarm as its manager sees it, joined with berth's records (machine names). */
import type {Ctx} from '../host/index.js'
import {members, reachableManager} from './members.js'
import {quorumAdvice} from './swarm.js'

export interface SwarmNodeRow {
  machine: string
  nodeId: string
  role: 'manager' | 'worker'
  state: string
  availability: string
  leader: boolean
  reachability: string
  engine: string
  addr: string
  labels: Record<string, string>
}

export interface SwarmSummary {
  name: string
  managers: string[]
  workers: string[]
  leader: string
  reachable: boolean
  via?: string
  nodes: SwarmNodeRow[]
  advice?: string
}

/** What a manager says about the swarm, joined with berth's records (machine names). */
export async function describeSwarm(ctx: Ctx, name: string, timeoutMs = 5000): Promise<SwarmSummary> {
  const recs = await members(ctx, name)
  const byNode = new Map(recs.filter(r => r.swarm?.nodeId).map(r => [r.swarm!.nodeId!, r.name]))
  const summary: SwarmSummary = {
    name, managers: recs.filter(r => r.swarm!.manager).map(r => r.name), workers: recs.filter(r => !r.swarm!.manager).map(r => r.name),
    leader: '', reachable: false, nodes: [], advice: quorumAdvice(recs.filter(r => r.swarm!.manager).length),
  }
  const m = await reachableManager(ctx, name, {timeoutMs})
  if (!m) return summary
  try {
    summary.reachable = true
    summary.via = m.record.name
    const nodes = await m.engine.request<Array<Record<string, any>>>('GET', '/nodes', undefined, {timeoutMs})
    summary.nodes = nodes.map(n => ({
      machine: byNode.get(n.ID) ?? n.Spec?.Labels?.['berth.machine'] ?? n.Description?.Hostname,
      nodeId: n.ID,
      role: n.Spec.Role,
      state: n.Status?.State,
      availability: n.Spec.Availability,
      leader: Boolean(n.ManagerStatus?.Leader),
      reachability: n.ManagerStatus?.Reachability ?? '',
      engine: n.Description?.Engine?.EngineVersion ?? '',
      addr: n.Status?.Addr ?? '',
      labels: n.Spec.Labels ?? {},
    })).sort((a, b) => a.machine.localeCompare(b.machine))
    summary.leader = summary.nodes.find(n => n.leader)?.machine ?? ''
    summary.managers = summary.nodes.filter(n => n.role === 'manager').map(n => n.machine)
    summary.workers = summary.nodes.filter(n => n.role === 'worker').map(n => n.machine)
  } finally {
    m.engine.close()
  }
  return summary
}
