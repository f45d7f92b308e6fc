/**
 * One line per thing that happened between two views (pure): nodes going down or up, tasks
 * starting, moving or stopping, standalone containers starting and stopping. The page keeps
 * the last ones as its activity log.
 */
import type {NodeView, SwarmView, TaskView, View} from './model.js'

export interface Activity {
  at: number
  swarm: string
  text: string
  /** How the page colours it. */
  level: 'info' | 'warn' | 'ok'
}

interface Placed {
  node: NodeView
  task: TaskView
}

/** Tasks of a service slot are the same replica across reschedules: that is what "moved" means. */
const slotKey = (t: TaskView, node: NodeView) => `${t.serviceId}.${t.slot || node.key}`
const taskName = (t: TaskView, node: NodeView) => `${t.service}.${t.slot || node.machine}`

function placed(s: SwarmView): Map<string, Placed> {
  const out = new Map<string, Placed>()
  for (const node of Object.values(s.nodes)) for (const task of Object.values(node.tasks)) out.set(task.id, {node, task})
  return out
}

function nodeLine(a: NodeView, b: NodeView): string | undefined {
  if (a.state === b.state) return undefined
  const why = b.state === 'down' && b.engineUp === false && b.swarmState !== 'down' ? ' (its engine does not answer)' : ''
  return `node ${b.machine}: ${a.state} → ${b.state}${why}`
}

/**
 * Slots whose task left a node, kept across views by the caller: a replacement is often first
 * assigned to the failing node again (the manager has not marked it down yet) and lands on
 * another node only in a later view; that is still one move.
 */
export type LeftSlots = Map<string, {machine: string; key: string; at: number}>
const LEFT_KEEP_MS = 120_000

function swarmLines(a: SwarmView, b: SwarmView, push: (text: string, level: Activity['level']) => void, left: LeftSlots, at: number): void {
  for (const [key, nb] of Object.entries(b.nodes)) {
    const na = a.nodes[key]
    if (!na) {
      push(`node ${nb.machine} joined (${nb.state})`, 'ok')
      continue
    }
    const line = nodeLine(na, nb)
    if (line) push(line, nb.state === 'down' ? 'warn' : nb.state === 'ready' ? 'ok' : 'info')
    for (const [id, cb] of Object.entries(nb.containers)) {
      const ca = na.containers[id]
      if (!ca) push(`container ${cb.name} created on ${nb.machine} (${cb.state})`, 'info')
      else if (ca.state !== cb.state) push(`container ${cb.name} on ${nb.machine}: ${ca.state} → ${cb.state}`, cb.state === 'running' ? 'ok' : 'info')
    }
    for (const [id, ca] of Object.entries(na.containers)) if (!nb.containers[id]) push(`container ${ca.name} removed from ${nb.machine}`, 'info')
  }
  for (const [key, na] of Object.entries(a.nodes)) if (!b.nodes[key]) push(`node ${na.machine} left the swarm`, 'info')

  const before = placed(a)
  const after = placed(b)
  const goneBySlot = new Map<string, Placed>()
  for (const [id, p] of before) if (!after.has(id)) goneBySlot.set(slotKey(p.task, p.node), p)
  for (const [id, p] of after) {
    const old = before.get(id)
    const name = taskName(p.task, p.node)
    if (!old) {
      const slot = slotKey(p.task, p.node)
      const was = goneBySlot.get(slot)
      const earlier = left.get(slot)
      if (was && was.node.key !== p.node.key) {
        goneBySlot.delete(slot)
        left.delete(slot)
        push(`task ${name} moved from ${was.node.machine} to ${p.node.machine}`, 'warn')
      } else if (!was && earlier && earlier.key !== p.node.key && at - earlier.at <= LEFT_KEEP_MS) {
        left.delete(slot)
        push(`task ${name} moved from ${earlier.machine} to ${p.node.machine}`, 'warn')
      } else {
        if (was) goneBySlot.delete(slotKey(p.task, p.node))
        push(`task ${name} on ${p.node.machine}: ${p.task.state}`, 'info')
      }
    } else if (old.task.state !== p.task.state) {
      push(`task ${name} on ${p.node.machine}: ${old.task.state} → ${p.task.state}${p.task.error ? ` (${p.task.error})` : ''}`, p.task.state === 'running' ? 'ok' : 'info')
    }
  }
  for (const [slot, p] of goneBySlot) {
    push(`task ${taskName(p.task, p.node)} left ${p.node.machine}`, 'info')
    // The first node it left is where it moved from, however many retries came between.
    const prior = left.get(slot)
    if (!prior || at - prior.at > LEFT_KEEP_MS) left.set(slot, {machine: p.node.machine, key: p.node.key, at})
  }
  for (const [slot, l] of left) if (at - l.at > LEFT_KEEP_MS) left.delete(slot)
}

/** At most `max` lines, so a whole new service does not flood the log. */
export function describeChanges(prev: View | undefined, next: View, max = 40, left: LeftSlots = new Map()): Activity[] {
  if (!prev) return []
  const out: Activity[] = []
  for (const [name, b] of Object.entries(next.swarms)) {
    const push = (text: string, level: Activity['level']) => out.push({at: next.at, swarm: name, text, level})
    const a = prev.swarms[name]
    if (!a) {
      push(`swarm ${name} appeared`, 'info')
      continue
    }
    if (a.via !== b.via) push(b.via ? `manager ${b.via} answers for the swarm` : `no manager answers: ${b.error || 'unknown'}`, b.via ? 'ok' : 'warn')
    swarmLines(a, b, push, left, next.at)
  }
  for (const name of Object.keys(prev.swarms)) if (!next.swarms[name]) out.push({at: next.at, swarm: name, text: `swarm ${name} is gone`, level: 'info'})
  if (out.length <= max) return out
  return [...out.slice(0, max - 1), {at: next.at, swarm: '', text: `and ${out.length - max + 1} more changes`, level: 'info'}]
}
