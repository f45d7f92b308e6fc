/**
 * The one placement path `berth run` and `berth swarm manage` share: read the cluster, place by
 * strategy and filters, create on the chosen engine. Without a `prepare` hook the image must
 * already be on a machine (a hard rule); with one, placement comes first and the hook fetches the
 * image (and what else the container needs) onto the chosen machine, as classic Swarm did.
 */
import {engineMessage} from '../engine/index.js'
import {
  PlacementError, PlacementSyntaxError, Scheduler, parseContainerConfig, parseRule, type ContainerConfig, type StrategyName,
} from '../placement/index.js'
import {nodeHasImage, normalizeImage, ownNames, reservationOf} from './inventory.js'
import {ClusterError} from './selection.js'
import type {Conn, ContainerInspect, Reservation, Snapshot} from './shapes.js'
import {clampVersion} from './units.js'

export interface CreateResult {
  machine: string
  id: string
  name?: string
  warnings: string[]
  /** Soft rules had to be dropped to find a machine. */
  softDropped: boolean
}

export interface CreateOptions {
  name?: string
  strategy: StrategyName
  apiVersion?: string
  query?: string
  prepare?: Prepare
}

/** The endpoint's part of a create: rules from what lives where, then readying the machine. */
export interface Prepare {
  /** Extra hard constraints (`node==...` for a named volume that lives on one machine). */
  rules(config: ContainerConfig & Record<string, unknown>, snap: Snapshot): Promise<string[]>
  /** Gets the image and named volumes onto the chosen machine before the container is created. */
  ready(machine: string, config: ContainerConfig & Record<string, unknown>, snap: Snapshot): Promise<void>
}

/** What placing needs of a cluster (the Cluster class is one). */
export interface PlacementTarget {
  snapshot(): Promise<Snapshot>
  connFor(machine: string): Promise<Conn>
  noteReservation(id: string, r: Reservation): void
}

export async function createPlaced(cluster: PlacementTarget, config: ContainerConfig & Record<string, unknown>, opts: CreateOptions): Promise<CreateResult> {
  let parsed
  try {
    parsed = parseContainerConfig(config, {name: opts.name})
  } catch (err) {
    if (err instanceof PlacementSyntaxError || err instanceof RangeError) throw new ClusterError(err.message, 400)
    throw err
  }
  if (!config.Image) throw new ClusterError('no image given', 400)
  const snap = await cluster.snapshot()
  if (!snap.machines.length) {
    throw new ClusterError(`no engine answers: ${snap.down.map(d => `${d.machine}: ${d.error}`).join('; ') || 'the cluster has no machines'}`, 503)
  }
  const name = opts.name?.replace(/^\//, '')
  if (name) {
    for (const m of snap.machines) {
      const c = m.containers.find(x => ownNames(x.Names).includes(name))
      if (c) throw new ClusterError(`Conflict. The container name "/${name}" is already in use by container "${c.Id}" on machine ${m.machine}. You have to remove (or rename) that container to be able to reuse that name.`, 409)
    }
  }
  const image = config.Image
  let request = parsed.request
  if (opts.prepare) {
    const extra = await opts.prepare.rules(config, snap)
    request = {...request, constraints: [...request.constraints, ...extra.map(r => parseRule('constraint', r))]}
  } else {
    // Nothing fetches the image here: it must already be on the machine, so holding it is a hard rule.
    const holders = snap.machines.filter(m => nodeHasImage(m.node, image))
    if (!holders.length) {
      throw new ClusterError(`No such image: ${normalizeImage(image)} (none of the machines ${snap.machines.map(m => m.machine).join(', ')} has it, and berth does not pull: load it there first)`, 404)
    }
    request = {...request, affinities: [...request.affinities, imageAffinity(snap, image)]}
  }
  const scheduler = new Scheduler(snap.nodes, {strategy: opts.strategy})
  let placement
  try {
    placement = scheduler.select(request)
  } catch (err) {
    if (err instanceof PlacementError) throw new ClusterError(err.message, 409)
    throw err
  }
  const machine = snap.machines.find(m => m.machine === placement.node.id)!
  await opts.prepare?.ready(machine.machine, config, snap)
  const conn = await cluster.connFor(machine.machine)
  const version = clampVersion(opts.apiVersion, machine.apiVersion)
  const query = opts.query ?? (name ? `name=${encodeURIComponent(name)}` : '')
  const r = await conn.engine.call<{Id: string; Warnings?: string[] | null}>('POST', `${version ? `/v${version}` : ''}/containers/create${query ? `?${query}` : ''}`, parsed.config, {timeoutMs: 60_000})
  if (r.status >= 400) throw new ClusterError(`${machine.machine}: ${engineMessage(r)}`, r.status)
  cluster.noteReservation(r.body.Id, reservationOf({Id: r.body.Id, HostConfig: parsed.config.HostConfig as ContainerInspect['HostConfig']}))
  return {machine: machine.machine, id: r.body.Id, name, warnings: r.body.Warnings ?? [], softDropped: placement.softDropped}
}

function globEscape(s: string): string {
  // Image references hold no glob characters, but a literal `*` or `?` must not widen the rule.
  return s.replace(/[*?]/g, '')
}

/**
 * The hard rule "holds the image". Built from the names the holders actually have, so a tag,
 * a digest or a short id all work, and the no-fit message reads `affinity image==bb:v1`.
 */
function imageAffinity(snap: Snapshot, image: string) {
  const want = normalizeImage(image)
  const byName = snap.machines.some(m => m.node.images.some(i => i.names.includes(want)))
  if (byName) return parseRule('affinity', `image==${globEscape(want)}`)
  return parseRule('affinity', `image==${globEscape(want.replace(/^sha256:/, '').slice(0, 12))}`)
}
