import {promises as fs} from 'node:fs'
import path from 'node:path'
import {errorMessage, parallel} from '../core/index.js'
import {type Ctx, engineFor, ipDrift, machineState} from '../host/index.js'
import type {MachineRecord} from '../store/index.js'
import {CorruptRecord} from '../store/index.js'
import {activeDockerHost} from './dockerenv.js'

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
  /** Engine labels key=value (ls --filter label=). */
  labels: string[]
  /** How long this row took to read, as docker-machine's ls .ResponseTime. */
  responseTimeMs: number
}

/** One ls row; engine calls are bounded by timeoutMs so a dead host cannot stall the list. */
async function machineRow(ctx: Ctx, rec: MachineRecord | CorruptRecord, timeoutMs: number, activeUrl: string | undefined): Promise<MachineRow> {
  const t0 = Date.now()
  const row = await readRow(ctx, rec, timeoutMs, activeUrl)
  row.responseTimeMs = Date.now() - t0
  return row
}

function blankRow(name: string, driver: string, state: string, error: string): MachineRow {
  return {name, active: false, driver, state, url: '', swarm: '', docker: '', error, labels: [], responseTimeMs: 0}
}

async function readRow(ctx: Ctx, rec: MachineRecord | CorruptRecord, timeoutMs: number, activeUrl: string | undefined): Promise<MachineRow> {
  if (rec instanceof CorruptRecord) return blankRow(rec.name, '', 'Error', rec.reason)
  const row = blankRow(rec.name, rec.driver, '', '')
  row.labels = [...(rec.engine?.labels ?? [])]
  if (rec.origin) row.origin = {...rec.origin}
  const st = await machineState(ctx, rec)
  row.state = st.state
  row.error = st.error ?? ''
  if (rec.swarm) row.swarm = `${rec.swarm.name}${rec.swarm.manager ? ' (manager)' : ''}`
  if (st.state !== 'Running') return row
  try {
    const engine = await engineFor(ctx, rec)
    row.url = engine.url
    row.active = activeUrl === engine.url
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

/** docker-machine's natural order, case-insensitive: node2 before node10. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', {numeric: true, sensitivity: 'base'}) || (a < b ? -1 : a > b ? 1 : 0)
}

export async function listRows(ctx: Ctx, opts: {timeoutMs: number; names?: string[]}): Promise<MachineRow[]> {
  let recs = await ctx.store.loadAll()
  if (opts.names) recs = recs.filter(r => opts.names!.includes(r.name))
  const activeUrl = await activeDockerHost()
  const res = await parallel(recs, 32, r => machineRow(ctx, r, opts.timeoutMs, activeUrl))
  // The registry code loads only in a store that has registries: ls's cold start stays as it was.
  const marks = await fs.access(path.join(ctx.store.root, 'registries')).then(async () => (await import('../registry/index.js')).registryMarks(ctx), () => undefined)
  for (const r of res) if (r.status === 'fulfilled' && marks?.has(r.value.name)) r.value.registry = marks.get(r.value.name)!.join(',')
  const rows = res.map((r, i) => (r.status === 'fulfilled' ? r.value : blankRow(recs[i].name, '', 'Error', errorMessage(r.reason))))
  return rows.sort((a, b) => naturalCompare(a.name, b.name))
}
