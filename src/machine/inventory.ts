import {promises as fs} from 'node:fs'
import path from 'node:path'
import {errorMessage, parallel} from '../core/index.js'
import {type Ctx, engineFor, ipDrift, machineState} from '../host/index.js'
import type {MachineRecord} from '../store/index.js'
import {CorruptRecord} from '../store/index.js'

export interface MachineRow {
  name: string
  active: boolean
  driver: string
  state: string
  url: string
  swarm: string
  docker: string
  error: string
  /** The cluster file and group the machine came from (`berth up`). */
  origin?: {file: string; group: string}
  /** Ports of the store registries the machine runs (`:5000`, `:5001 (mirror)`). */
  registry?: string
}

/** One ls row; engine calls are bounded by timeoutMs so a dead host cannot stall the list. */
export async function machineRow(ctx: Ctx, rec: MachineRecord | CorruptRecord, timeoutMs: number): Promise<MachineRow> {
  if (rec instanceof CorruptRecord) {
    return {name: rec.name, active: false, driver: '', state: 'Error', url: '', swarm: '', docker: '', error: rec.reason}
  }
  const row: MachineRow = {name: rec.name, active: false, driver: rec.driver, state: '', url: '', swarm: '', docker: '', error: ''}
  if (rec.origin) row.origin = {...rec.origin}
  const st = await machineState(ctx, rec)
  row.state = st.state
  row.error = st.error ?? ''
  if (rec.swarm) row.swarm = `${rec.swarm.name}${rec.swarm.manager ? ' (manager)' : ''}`
  if (st.state !== 'Running') return row
  try {
    const engine = await engineFor(ctx, rec)
    row.url = engine.url
    row.active = activeHost() === engine.url
    const drift = await ipDrift(ctx, rec)
    if (drift) row.error = drift
    try {
      row.docker = `v${(await engine.version(timeoutMs)).Version}`
    } catch (err) {
      row.docker = 'Unknown'
      row.error ||= errorMessage(err)
    } finally {
      engine.close()
    }
  } catch (err) {
    row.error = errorMessage(err)
  }
  return row
}

export function activeHost(): string | undefined {
  return process.env.DOCKER_HOST
}

export async function listRows(ctx: Ctx, opts: {timeoutMs: number; names?: string[]}): Promise<MachineRow[]> {
  let recs = await ctx.store.loadAll()
  if (opts.names) recs = recs.filter(r => opts.names!.includes(r.name))
  const res = await parallel(recs, 32, r => machineRow(ctx, r, opts.timeoutMs))
  // The registry code loads only in a store that has registries: ls's cold start stays as it was.
  const marks = await fs.access(path.join(ctx.store.root, 'registries')).then(async () => (await import('../registry/index.js')).registryMarks(ctx), () => undefined)
  for (const r of res) if (r.status === 'fulfilled' && marks?.has(r.value.name)) r.value.registry = marks.get(r.value.name)!.join(',')
  return res.map((r, i) => (r.status === 'fulfilled' ? r.value : {name: recs[i].name, active: false, driver: '', state: 'Error', url: '', swarm: '', docker: '', error: errorMessage(r.reason)}))
}
