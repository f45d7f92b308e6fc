/**
 * Image distribution without a registry: `GET /images/get` from a source (the local engine, a
 * member, or a `docker save` tarball) streamed into `POST /images/load` on each target over
 * berth's mutual-TLS engine connections. Bytes flow through, never gathered in memory; targets
 * that already have an image ID are skipped (only its missing tags are added).
 */
import {createReadStream} from 'node:fs'
import type {IncomingMessage} from 'node:http'
import {Transform, type Readable} from 'node:stream'
import {errorMessage, NotFoundError, parallel, scaleBytes, UserError} from '../core/index.js'
import {type Engine, localEngine, type StreamingEngine} from '../engine/index.js'
import {type Ctx, engineFor} from '../host/index.js'
import type {MachineRecord} from '../store/index.js'
import {tarballImages} from './tarball.js'

export type ImageSource = {local: true} | {machine: string} | {file: string}

export interface PushResult {
  machine: string
  result: 'loaded' | 'present' | 'failed'
  bytes: number
  ms: number
  error?: string
}

interface Wanted {
  ref: string
  id: string
  tags: string[]
}

const mb = (n: number) => {
  const [v, u] = scaleBytes(n)
  return `${v.toFixed(1)} ${u}`
}

async function readAll(res: IncomingMessage): Promise<string> {
  let text = ''
  for await (const c of res) text += c
  return text
}

async function inspectOn(src: StreamingEngine, ref: string): Promise<Wanted> {
  const res = await src.stream('GET', `/images/${encodeURIComponent(ref)}/json`)
  const text = await readAll(res)
  if (res.statusCode === 404) throw new NotFoundError(`no such image "${ref}" on ${src.label}`)
  if ((res.statusCode ?? 500) >= 400) throw new UserError(`${src.label}: ${engineText(text)}`)
  const j = JSON.parse(text) as {Id: string; RepoTags?: string[]}
  const isId = /^(sha256:)?[0-9a-f]{12,64}$/.test(ref)
  const tag = isId ? undefined : ref.slice(ref.lastIndexOf('/') + 1).includes(':') ? ref : `${ref}:latest`
  return {ref, id: j.Id, tags: tag && (j.RepoTags ?? []).includes(tag) ? [tag] : []}
}

function engineText(text: string): string {
  try {
    return (JSON.parse(text) as {message?: string}).message ?? text.trim()
  } catch {
    return text.trim()
  }
}

const asSource = (e: Engine, label: string): StreamingEngine => ({label, stream: (m, p) => e.stream(m, p)})

/** Copy images to every target in parallel (at most `parallel` at once); one result per target. */
export async function pushImages(ctx: Ctx, opts: {images: string[]; targets: MachineRecord[]; source: ImageSource; parallel?: number}): Promise<PushResult[]> {
  let source: (StreamingEngine & {close?: () => void}) | undefined
  let wanted: Wanted[]
  let open: () => Promise<Readable>
  if ('file' in opts.source) {
    const file = opts.source.file
    const saved = await tarballImages(file)
    wanted = opts.images.length ? opts.images.map(ref => {
      const hit = saved.find(s => s.tags.includes(ref) || s.tags.includes(`${ref}:latest`) || s.id === ref || s.id.startsWith(`sha256:${ref}`))
      if (!hit) throw new NotFoundError(`no such image "${ref}" in ${file} (it holds ${saved.flatMap(s => s.tags).join(', ') || 'untagged images'})`)
      return {ref, id: hit.id, tags: hit.tags}
    }) : saved.map(s => ({ref: s.tags[0] ?? s.id, id: s.id, tags: s.tags}))
    open = async () => createReadStream(file)
  } else {
    if (!opts.images.length) throw new UserError('name the images to push', 'usage')
    if ('machine' in opts.source) {
      const rec = await ctx.store.load(opts.source.machine)
      const e = await engineFor(ctx, rec)
      source = {...asSource(e, `machine "${rec.name}"`), close: () => e.close()}
    } else {
      source = await localEngine()
    }
    const src = source
    wanted = []
    for (const ref of opts.images) wanted.push(await inspectOn(src, ref))
    const names = wanted.flatMap(w => (w.tags.length ? w.tags : [w.id])).map(n => `names=${encodeURIComponent(n)}`).join('&')
    open = async () => {
      const res = await src.stream('GET', `/images/get?${names}`)
      if (res.statusCode !== 200) throw new UserError(`${src.label}: ${engineText(await readAll(res))}`)
      return res
    }
  }
  try {
    const res = await parallel(opts.targets, opts.parallel ?? 4, t => pushOne(ctx, t, wanted, open))
    return res.map((r, i) => (r.status === 'fulfilled' ? r.value : {machine: opts.targets[i].name, result: 'failed', bytes: 0, ms: 0, error: errorMessage(r.reason)}))
  } finally {
    source?.close?.()
  }
}

async function pushOne(ctx: Ctx, target: MachineRecord, wanted: Wanted[], open: () => Promise<Readable>): Promise<PushResult> {
  const t0 = Date.now()
  const say = (m: string) => ctx.progress?.(target.name, m)
  const engine = await engineFor(ctx, target)
  try {
    const missing: Wanted[] = []
    for (const w of wanted) {
      const r = await engine.call<{RepoTags?: string[]}>('GET', `/images/${encodeURIComponent(w.id)}/json`)
      if (r.status === 404) {
        missing.push(w)
        continue
      }
      if (r.status >= 400) throw new UserError(`${target.name}: ${engineText(r.text)}`)
      for (const tag of w.tags.filter(x => !(r.body.RepoTags ?? []).includes(x))) {
        const i = tag.lastIndexOf(':')
        await engine.request('POST', `/images/${encodeURIComponent(w.id)}/tag?repo=${encodeURIComponent(tag.slice(0, i))}&tag=${encodeURIComponent(tag.slice(i + 1))}`)
      }
    }
    if (!missing.length) {
      say('has the image already')
      return {machine: target.name, result: 'present', bytes: 0, ms: Date.now() - t0}
    }
    const bytes = await load(engine, target.name, await open(), say)
    say(`loaded ${mb(bytes)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    return {machine: target.name, result: 'loaded', bytes, ms: Date.now() - t0}
  } finally {
    engine.close()
  }
}

/** Stream a tarball into the engine; its answer is a JSON stream whose error lines fail the load. */
async function load(engine: Engine, machine: string, body: Readable, say: (m: string) => void): Promise<number> {
  let bytes = 0
  let last = 0
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length
      if (Date.now() - last > 1000) {
        last = Date.now()
        say(`${mb(bytes)} sent`)
      }
      cb(null, chunk)
    },
  })
  body.on('error', err => counter.destroy(err))
  body.pipe(counter)
  try {
    const res = await engine.stream('POST', '/images/load?quiet=1', {headers: {'Content-Type': 'application/x-tar'}, body: counter})
    const text = await readAll(res)
    const error = (res.statusCode ?? 500) >= 400 ? engineText(text) : text.split('\n').map(l => {
      try {
        return (JSON.parse(l) as {error?: string}).error
      } catch {
        return undefined
      }
    }).find(Boolean)
    if (error) throw new UserError(loadError(machine, error))
    return bytes
  } catch (err) {
    if (err instanceof UserError) throw err
    throw new UserError(loadError(machine, errorMessage(err)))
  } finally {
    body.destroy()
  }
}

function loadError(machine: string, message: string): string {
  if (/no space left on device/i.test(message)) return `${machine}: its engine is out of disk space (no space left on device) while loading the image: free space there (docker system prune) and push again`
  return `${machine}: the engine refused the image: ${message.split('\n')[0]}`
}

export interface ImageRow {
  id: string
  tags: string[]
  size: number
  machines: string[]
}

/** Which machine has which image: one row per image ID, with the machines that hold it. */
export async function listImages(ctx: Ctx, machines: MachineRecord[]): Promise<{rows: ImageRow[]; errors: string[]}> {
  const byId = new Map<string, ImageRow>()
  const errors: string[] = []
  const res = await parallel(machines, 8, async m => {
    const e = await engineFor(ctx, m)
    try {
      return await e.request<Array<{Id: string; RepoTags?: string[] | null; Size: number}>>('GET', '/images/json', undefined, {timeoutMs: 10_000})
    } finally {
      e.close()
    }
  })
  res.forEach((r, i) => {
    if (r.status === 'rejected') return errors.push(`${machines[i].name}: ${errorMessage(r.reason)}`)
    for (const img of r.value) {
      const row = byId.get(img.Id) ?? {id: img.Id, tags: [], size: img.Size, machines: []}
      row.tags = [...new Set([...row.tags, ...(img.RepoTags ?? []).filter(t => t !== '<none>:<none>')])]
      row.machines.push(machines[i].name)
      byId.set(img.Id, row)
    }
  })
  return {rows: [...byId.values()].sort((a, b) => (a.tags[0] ?? a.id).localeCompare(b.tags[0] ?? b.id)), errors}
}
