// Incremental scheduler. Requests without rules (the common case) are
// answered from per-capacity-class tournament trees in O(log n) instead of
// sorting every node; requests with rules fall back to one linear scan.
import {checksFor} from './filters.js'
import {makeNode, placedContainer, resolveOptions, type ContainerInfo, type ImageInfo, type NodeInput, type Placement, type PlacementNode, type PlacementRequest, type PortInUse, type ResolvedOptions, type SchedulerOptions, type StrategyName} from './model.js'
import {explainNoFit, scanSelect} from './select.js'
import {candidate, compareRanked, fitsNode, healthRank, loadScore, type Candidate} from './strategies.js'

type Mutable<T> = {-readonly [K in keyof T]: T[K]}
type LiveNode = Mutable<Omit<PlacementNode, 'ports' | 'images' | 'containers'>> & {
  ports: PortInUse[]
  images: ImageInfo[]
  containers: ContainerInfo[]
}

interface Rec {
  readonly node: LiveNode
  /** Health rank (lower is better). */
  rank: number
  /** loadScore(node): the tree's key. Doubles as `score` so Rec is Ranked. */
  score: number
  load: number
  /** Passes the health filter (when enabled); ineligible nodes are kept out of the trees. */
  eligible: boolean
  /** Position in Scheduler.all. */
  slot: number
  cls: ClassIndex
  /** Position in cls.recs. */
  classSlot: number
  imageNames: Set<string>
}

/**
 * Nodes sharing one capacity (cpus, memory). Within a class a request adds
 * the same amount to every node's load (score = load + δ, and rounding keeps
 * that monotone; compareRanked breaks equal scores by load), so the strategy
 * order for any request equals the order by load, and one
 * request-independent tree serves every request. Each tree node caches its
 * subtree's best leaf and the largest free cpu / memory, which lets a query
 * skip subtrees that are all full.
 */
class ClassIndex {
  readonly recs: Rec[] = []
  private size = 16
  private win = new Int32Array(32).fill(-1)
  private freeC = new Float64Array(32).fill(Number.NEGATIVE_INFINITY)
  private freeM = new Float64Array(32).fill(Number.NEGATIVE_INFINITY)
  private readonly stack: number[] = []
  readonly cpuCap: number
  readonly memCap: number
  // Pruning compares free capacity, while fitsNode compares percentages:
  // the slack keeps float rounding from pruning a node that does fit.
  private readonly tolC: number
  private readonly tolM: number

  constructor(readonly key: string, cpus: number, memory: number, overcommit: number, private readonly binpack: boolean) {
    this.cpuCap = cpus * (1 + overcommit)
    this.memCap = memory * (1 + overcommit)
    this.tolC = this.cpuCap * 1e-9 + 1e-12
    this.tolM = this.memCap * 1e-9 + 1e-12
  }

  add(rec: Rec): void {
    if (this.recs.length === this.size) this.grow()
    rec.classSlot = this.recs.length
    this.recs.push(rec)
    this.refresh(rec)
  }

  remove(rec: Rec): void {
    const last = this.recs.pop()!
    this.setLeaf(this.recs.length, undefined)
    if (last !== rec) {
      this.recs[rec.classSlot] = last
      last.classSlot = rec.classSlot
      this.refresh(last)
    }
  }

  refresh(rec: Rec): void {
    this.setLeaf(rec.classSlot, rec)
  }

  private setLeaf(slot: number, rec: Rec | undefined): void {
    let i = this.size + slot
    if (rec && rec.eligible) {
      this.win[i] = slot
      this.freeC[i] = this.cpuCap - rec.node.reservedCpus
      this.freeM[i] = this.memCap - rec.node.reservedMemory
    } else {
      this.win[i] = -1
      this.freeC[i] = Number.NEGATIVE_INFINITY
      this.freeM[i] = Number.NEGATIVE_INFINITY
    }
    for (i >>= 1; i >= 1; i >>= 1) this.pull(i)
  }

  private pull(i: number): void {
    const l = 2 * i
    const r = l + 1
    const wl = this.win[l]
    const wr = this.win[r]
    this.win[i] = wl < 0 ? wr : wr < 0 ? wl : compareRanked(this.binpack, this.recs[wr], this.recs[wl]) < 0 ? wr : wl
    this.freeC[i] = Math.max(this.freeC[l], this.freeC[r])
    this.freeM[i] = Math.max(this.freeM[l], this.freeM[r])
  }

  private grow(): void {
    this.size *= 2
    this.win = new Int32Array(2 * this.size).fill(-1)
    this.freeC = new Float64Array(2 * this.size).fill(Number.NEGATIVE_INFINITY)
    this.freeM = new Float64Array(2 * this.size).fill(Number.NEGATIVE_INFINITY)
    for (let s = 0; s < this.recs.length; s++) {
      const rec = this.recs[s]
      if (!rec.eligible) continue
      const i = this.size + s
      this.win[i] = s
      this.freeC[i] = this.cpuCap - rec.node.reservedCpus
      this.freeM[i] = this.memCap - rec.node.reservedMemory
    }
    for (let i = this.size - 1; i >= 1; i--) this.pull(i)
  }

  /**
   * Best fitting node by the strategy's order. Branch and bound: a subtree
   * whose cached winner fits is answered by that winner; one whose winner is
   * no better than the best found so far, or whose largest free cpu/memory
   * is below the request, is skipped.
   */
  query(request: PlacementRequest, overcommit: number): Rec | undefined {
    const {win, freeC, freeM, recs, binpack, size, stack} = this
    const needC = request.cpus - this.tolC
    const needM = request.memory - this.tolM
    let best = -1
    stack.length = 0
    stack.push(1)
    while (stack.length > 0) {
      const i = stack.pop()!
      const w = win[i]
      if (w < 0 || freeC[i] < needC || freeM[i] < needM) continue
      if (best >= 0 && compareRanked(binpack, recs[w], recs[best]) >= 0) continue
      if (fitsNode(recs[w].node, request, overcommit)) {
        best = w
        continue
      }
      if (i >= size) continue
      const l = 2 * i
      // Visit the side holding the winner first: it is the more likely to hold a good fit.
      if (win[l] === w) stack.push(l + 1, l)
      else stack.push(l, l + 1)
    }
    return best >= 0 ? recs[best] : undefined
  }
}

// Rejection sampling keeps random O(1) on a cluster with room; after this
// many misses the cluster is mostly full and a scan is cheaper.
const RANDOM_TRIES = 32

/**
 * Keeps the cluster indexed between decisions. A rule-free decision costs
 * O(k log n) for k distinct machine shapes (one tree query per shape), and
 * place/update/remove cost O(log n); requests with rules cost one O(n) scan
 * with no sort. Picks exactly what naiveSelect would pick, except for the
 * random strategy, which samples differently but just as uniformly.
 */
export class Scheduler {
  private readonly opts: ResolvedOptions
  private readonly byId = new Map<string, Rec>()
  private readonly all: Rec[] = []
  private readonly classes = new Map<string, ClassIndex>()

  constructor(nodes: Iterable<NodeInput> = [], options: SchedulerOptions = {}) {
    this.opts = resolveOptions(options)
    for (const n of nodes) this.update(n)
  }

  get size(): number {
    return this.all.length
  }

  get strategy(): StrategyName {
    return this.opts.strategy
  }

  /** The live node; treat it as read-only and change it through update(). */
  get(id: string): PlacementNode | undefined {
    return this.byId.get(id)?.node
  }

  nodes(): PlacementNode[] {
    return this.all.map(r => r.node)
  }

  /** Adds a node or replaces the one with the same id (e.g. after an engine refresh). */
  update(input: NodeInput): PlacementNode {
    const node = makeNode(input) as LiveNode
    const old = this.byId.get(node.id)
    // Detach first: it may delete the class the new version belongs to.
    if (old) this.detachFromClass(old)
    const cls = this.classFor(node)
    const rec: Rec = {
      node,
      rank: 0,
      score: 0,
      load: 0,
      eligible: true,
      slot: old ? old.slot : this.all.length,
      cls,
      classSlot: -1,
      imageNames: new Set(node.images.flatMap(i => i.names)),
    }
    this.rekey(rec)
    if (old) {
      this.all[old.slot] = rec
    } else {
      this.all.push(rec)
    }
    this.byId.set(node.id, rec)
    cls.add(rec)
    return node
  }

  remove(id: string): boolean {
    const rec = this.byId.get(id)
    if (!rec) return false
    this.byId.delete(id)
    this.detachFromClass(rec)
    const last = this.all.pop()!
    if (last !== rec) {
      this.all[rec.slot] = last
      last.slot = rec.slot
    }
    return true
  }

  /** Chooses a node without changing anything; throws PlacementError when none fits. */
  select(request: PlacementRequest): Placement {
    const o = this.opts
    const checks = checksFor(request, o.filters)
    // Health is folded into eligibility, so only request rules force a scan.
    const plain = checks.every(c => c.filter === 'health')
    const found = plain ? this.indexed(request) : scanSelect(this.nodes(), request, o, checks)
    if (!found) throw explainNoFit(this.nodes(), request, o)
    return found
  }

  /** select() and then reserve the request on the chosen node. */
  place(request: PlacementRequest): Placement {
    const p = this.select(request)
    this.commit(this.byId.get(p.node.id)!, request)
    return p
  }

  private indexed(request: PlacementRequest): Placement | undefined {
    const o = this.opts
    let best: Candidate | undefined
    if (o.strategy === 'random') {
      best = this.randomPick(request)
    } else {
      const binpack = o.strategy === 'binpack'
      for (const cls of this.classes.values()) {
        const rec = cls.query(request, o.overcommit)
        if (!rec) continue
        // Across classes the request weighs differently, so compare real scores.
        const c = candidate(rec.node, request, o.overcommit)
        if (!best || compareRanked(binpack, c, best) < 0) best = c
      }
    }
    return best && {node: best.node, score: best.score, cpuScore: best.cpuScore, memoryScore: best.memoryScore, softDropped: false}
  }

  private randomPick(request: PlacementRequest): Candidate | undefined {
    const o = this.opts
    const n = this.all.length
    if (n === 0) return undefined
    // Uniform over fitting nodes: each accepted draw is uniform over them, and so is the fallback.
    for (let t = 0; t < RANDOM_TRIES; t++) {
      const rec = this.all[Math.min(n - 1, Math.floor(o.rng() * n))]
      if (rec.eligible && fitsNode(rec.node, request, o.overcommit)) return candidate(rec.node, request, o.overcommit)
    }
    const fitting = this.all.filter(r => r.eligible && fitsNode(r.node, request, o.overcommit))
    if (fitting.length === 0) return undefined
    const rec = fitting[Math.min(fitting.length - 1, Math.floor(o.rng() * fitting.length))]
    return candidate(rec.node, request, o.overcommit)
  }

  private commit(rec: Rec, request: PlacementRequest): void {
    const node = rec.node
    node.reservedCpus += request.cpus
    node.reservedMemory += request.memory
    node.containerCount += 1
    node.containers.push(placedContainer(request))
    for (const p of request.ports) node.ports.push({port: p.port, protocol: p.protocol, hostIp: p.hostIp})
    if (request.image && !rec.imageNames.has(request.image)) {
      rec.imageNames.add(request.image)
      node.images.push({id: '', names: [request.image]})
    }
    this.rekey(rec)
    rec.cls.refresh(rec)
  }

  private rekey(rec: Rec): void {
    rec.load = rec.score = loadScore(rec.node, this.opts.overcommit)
    rec.rank = healthRank(rec.node)
    rec.eligible = !this.opts.filters.has('health') || rec.node.health.healthy
  }

  private classFor(node: PlacementNode): ClassIndex {
    const key = `${node.cpus}/${node.memory}`
    let cls = this.classes.get(key)
    if (!cls) {
      cls = new ClassIndex(key, node.cpus, node.memory, this.opts.overcommit, this.opts.strategy === 'binpack')
      this.classes.set(key, cls)
    }
    return cls
  }

  private detachFromClass(rec: Rec): void {
    rec.cls.remove(rec)
    // Empty classes would still cost a query per decision.
    if (rec.cls.recs.length === 0) this.classes.delete(rec.cls.key)
  }
}
