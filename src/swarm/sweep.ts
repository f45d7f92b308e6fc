/**
 * Nodes a killed create left in a swarm. A create killed (SIGKILL, a crash) right after its join
 * leaves its node in the swarm with only the intent on record (swarmJoin); `rm` removes it, but a
 * user who never runs rm, or whose host died with the create, leaves the manager listing a Down
 * node forever. The next joiner of that swarm removes such nodes: Down, labelled as a berth
 * machine of this store whose record is gone, failed, or an interrupted create that meant to join
 * this swarm. Nodes berth did not make (no berth.machine engine label) are never touched.
 */
import type {Engine} from '../engine/index.js'
import type {Ctx} from '../host/index.js'
import {CorruptRecord, type MachineRecord} from '../store/index.js'

interface SwarmNode {
  ID: string
  Spec?: {Role?: string}
  Status?: {State?: string}
  ManagerStatus?: unknown
  Description?: {Hostname?: string; Engine?: {Labels?: Record<string, string>}}
}

/** One sweep per swarm at a time in this process: fifty joiners of one create share it. */
const sweeps = new Map<string, Promise<void>>()

export function sweepDeadJoiners(ctx: Ctx, swarm: string, joiner: string, manager: Engine): Promise<void> {
  const key = `${ctx.store.root}\0${swarm}`
  let p = sweeps.get(key)
  if (!p) {
    p = sweep(ctx, swarm, joiner, manager).catch(err => ctx.debug?.(joiner, `sweep of swarm ${swarm}: ${(err as Error).message}`))
    sweeps.set(key, p)
    void p.finally(() => sweeps.delete(key))
  }
  return p
}

async function sweep(ctx: Ctx, swarm: string, joiner: string, manager: Engine): Promise<void> {
  const nodes = await manager.request<SwarmNode[]>('GET', '/nodes', undefined, {timeoutMs: 15_000})
  const down = nodes.filter(n => n.Status?.State === 'down' && n.Description?.Engine?.Labels?.['berth.machine'])
  if (!down.length) return
  const records = new Map<string, MachineRecord | CorruptRecord>((await ctx.store.loadAll()).map(r => [r.name, r]))
  for (const node of down) {
    const machine = node.Description!.Engine!.Labels!['berth.machine']
    const rec = records.get(machine)
    if (rec && !await deadJoiner(ctx, rec, swarm, node.ID, joiner)) continue
    ctx.progress?.(joiner, `removing node ${node.ID.slice(0, 12)} of ${machine} from swarm ${swarm} (Down; ${rec ? 'its create was interrupted after its join' : 'its machine is gone'})`)
    if (node.ManagerStatus) {
      // A manager's entry must leave Raft before it can be removed.
      const cur = await manager.request<{Version: {Index: number}; Spec: Record<string, unknown>}>('GET', `/nodes/${node.ID}`)
      await manager.request('POST', `/nodes/${node.ID}/update?version=${cur.Version.Index}`, {...cur.Spec, Role: 'worker'}).catch(() => {})
    }
    await manager.request('DELETE', `/nodes/${node.ID}?force=true`).catch(err => ctx.debug?.(joiner, `remove node ${node.ID}: ${(err as Error).message}`))
  }
}

/** Whether the Down node `nodeId` labelled as `rec` is what a dead or failed join left. */
async function deadJoiner(ctx: Ctx, rec: MachineRecord | CorruptRecord, swarm: string, nodeId: string, joiner: string): Promise<boolean> {
  if (rec instanceof CorruptRecord) return false // unreadable: nobody can tell what it is
  // The joiner itself has not joined yet: a Down node with its name is an earlier machine's.
  if (rec.name === joiner) return rec.swarm?.nodeId !== nodeId
  // A member on record (perhaps only stopped) is its owner's to rm or start; an older node of it is not.
  if (rec.swarm) return Boolean(rec.swarm.nodeId) && rec.swarm.nodeId !== nodeId
  if (rec.swarmJoin?.name !== swarm) return false
  if (rec.status === 'error') return true
  return rec.status === 'creating' && !await ctx.store.busy(rec.name)
}
