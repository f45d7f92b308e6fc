/**
 * Images across the machines, as classic Swarm spread them: pull on every machine, tag and rmi
 * wherever the image is, push and save from one that has it, load on every machine, build on
 * one the strategy chooses. And what `docker run` needs: the image fetched onto the machine the
 * container was placed on, pulled there or copied from a member (GET /images/get -> POST
 * /images/load, streamed over the engines' mutual-TLS connections).
 */
import {PassThrough} from 'node:stream'
import {Cluster, ClusterError, FALLBACK_API_VERSION, clampVersion, nodeHasImage, normalizeImage, type Conn, type Prepare, type Snapshot} from '../cluster/index.js'
import {engineMessage} from '../engine/index.js'
import {PlacementError, Scheduler, makeRequest, type StrategyName} from '../placement/index.js'
import {endToEnd, sendJson, type Req, type Res} from './http.js'
import {proxy} from './proxy.js'
import {combinedError, progress, tagged, type Message} from './stream.js'

/** `registry.example:5000/app:1` names a registry; `app:1` and `user/app` mean Docker Hub. */
export function namesRegistry(ref: string): boolean {
  const slash = ref.indexOf('/')
  if (slash < 0) return false
  const first = ref.slice(0, slash)
  return first === 'localhost' || first.includes('.') || first.includes(':')
}

/** A pull of no tag pulls every tag: the CLI's default is `latest`. */
export function pullRef(fromImage: string, tag: string | null): string {
  if (tag) return `${fromImage}${/^sha256:/.test(tag) ? '@' : ':'}${tag}`
  return fromImage.includes('@') ? fromImage : normalizeImage(fromImage)
}

/** Pull first from where the image lives (a named registry, a mirror), else copy from a member that has it. */
export function fetchOrder(ref: string, mirrored: boolean, heldByMember: boolean): Array<'pull' | 'copy'> {
  return namesRegistry(ref) || mirrored || !heldByMember ? ['pull', 'copy'] : ['copy', 'pull']
}

const enc = encodeURIComponent

/** Copies of the request body, one for each engine it goes to. */
function tee(req: Req, n: number): PassThrough[] {
  const outs = Array.from({length: n}, () => new PassThrough())
  // pipe() pauses the source while any copy is full, so no engine is fed faster than it reads.
  for (const o of outs) req.pipe(o)
  return outs
}

export class Images {
  constructor(private readonly cluster: Cluster, private readonly log: (line: string) => void) {}

  private v(version: string | undefined, machine: string): string {
    const v = clampVersion(version, this.cluster.apiVersionOf(machine))
    return v ? `/v${v}` : ''
  }

  /** The machines whose engine knows the image, by inspect (tag, digest or id, as the engine resolves). */
  async holders(ref: string): Promise<Conn[]> {
    const {results} = await this.cluster.each<unknown>(`/v${FALLBACK_API_VERSION}/images/${enc(ref)}/json`)
    return results.filter(r => r.res.status === 200).map(r => r.conn)
  }

  private async allConns(): Promise<Conn[]> {
    const records = await this.cluster.records()
    const out = await Promise.all(records.map(r => this.cluster.conn(r).catch(() => undefined)))
    const conns = out.filter((c): c is Conn => Boolean(c))
    if (!conns.length) throw new ClusterError('no engine answers', 503)
    return conns
  }

  /**
   * Progress calls on several engines at once, merged into one answer: headers wait until every
   * engine has answered, so when all refuse the client gets one error status and message.
   */
  private async fanOut(res: Res, conns: Conn[], call: (conn: Conn, each: (m: Message) => void) => Promise<{status: number; error?: string}>): Promise<void> {
    let started = false
    const pending: string[] = []
    const write = (line: string) => {
      if (started) res.write(line)
      else pending.push(line)
    }
    const begin = () => {
      if (started) return
      started = true
      res.writeHead(200, {'Content-Type': 'application/json'})
      for (const l of pending) res.write(l)
    }
    const results = await Promise.all(conns.map(async conn => {
      const r = await call(conn, m => {
        if (!m.errorDetail && !m.error) {
          write(JSON.stringify(tagged(conn.machine, m)) + '\r\n')
          // The first progress of any engine: the answer has begun.
          begin()
        }
      })
      return {machine: conn.machine, ...r}
    }))
    const failures = results.filter(r => r.error).map(r => ({machine: r.machine, status: r.status, error: r.error!}))
    if (!started && failures.length === results.length) throw combinedError(failures)
    begin()
    // The CLI stops at an error message and exits 1: any failing engine comes last, after the others' progress.
    if (failures.length) {
      const e = combinedError(failures)
      res.write(JSON.stringify({errorDetail: {message: e.message}, error: e.message}) + '\r\n')
    }
    res.end()
  }

  /** docker pull (and docker import): on every machine, each one's progress tagged with its name. */
  async pull(req: Req, res: Res, version: string | undefined, query: URLSearchParams): Promise<void> {
    const conns = await this.allConns()
    const headers = endToEnd(req.headers)
    delete headers['content-length']
    if (query.get('fromSrc') === '-') {
      // docker import: the tarball goes to every machine, read once.
      const bodies = tee(req, conns.length)
      return this.fanOut(res, conns, (conn, each) => progress(conn, 'POST', `${this.v(version, conn.machine)}/images/create?${query}`, {headers, body: bodies[conns.indexOf(conn)], each}))
    }
    const ref = pullRef(query.get('fromImage') ?? '', query.get('tag'))
    if (!query.get('fromImage')) throw new ClusterError('no image to pull given', 400)
    this.log(`pull ${ref} on ${conns.map(c => c.machine).join(', ')}`)
    await this.fanOut(res, conns, (conn, each) => this.pullOn(conn, ref, version, headers, each))
  }

  private pullOn(conn: Conn, ref: string, version?: string, headers?: Record<string, string | string[]>, each?: (m: Message) => void) {
    return progress(conn, 'POST', `${this.v(version, conn.machine)}/images/create?fromImage=${enc(ref)}`, {headers, each})
  }

  /** docker load: the tarball to every machine. */
  async load(req: Req, res: Res, version: string | undefined, search: string): Promise<void> {
    const conns = await this.allConns()
    const bodies = tee(req, conns.length)
    const headers = endToEnd(req.headers)
    await this.fanOut(res, conns, (conn, each) => progress(conn, 'POST', `${this.v(version, conn.machine)}/images/load${search}`, {headers, body: bodies[conns.indexOf(conn)], each}))
  }

  /**
   * The image onto the machine a container was placed on. A reference that names a registry, or
   * any image on a machine with a registry mirror, is pulled there first (the registry or mirror
   * is where it lives); an image only some members hold (built or loaded there, or a Hub image on
   * hosts that cannot reach out) is copied from one. Each falls back to the other.
   */
  async ensure(machine: string, image: string, snap: Snapshot): Promise<void> {
    const target = snap.machines.find(m => m.machine === machine)
    if (!target || nodeHasImage(target.node, image)) return
    const conn = await this.cluster.connFor(machine)
    const holders = snap.machines.filter(m => m.machine !== machine && nodeHasImage(m.node, image)).map(m => m.machine)
    const ref = normalizeImage(image)
    const errors: string[] = []
    const pull = async () => {
      const t0 = Date.now()
      const r = await this.pullOn(conn, ref)
      if (!r.error) this.log(`pulled ${ref} on ${machine} in ${Date.now() - t0} ms`)
      else errors.push(`pulling it on ${machine}: ${r.error}`)
      return !r.error
    }
    const copy = async () => {
      for (const from of holders) {
        const t0 = Date.now()
        const err = await this.copy(await this.cluster.connFor(from), conn, ref)
        if (!err) {
          this.log(`copied ${ref} from ${from} to ${machine} in ${Date.now() - t0} ms`)
          return true
        }
        errors.push(`copying it from ${from}: ${err}`)
      }
      return false
    }
    const steps = {pull, copy}
    for (const step of fetchOrder(ref, (target.info.RegistryConfig?.Mirrors ?? []).length > 0, holders.length > 0)) if (await steps[step]()) return
    // A 404 makes the docker CLI pull through the endpoint itself, with the credentials it holds.
    if (!holders.length && errors.every(e => /not found|manifest unknown|does not exist|pull access denied|no such host|unauthorized|authentication required|no basic auth/i.test(e))) {
      throw new ClusterError(`No such image: ${ref} (no machine has it, and ${errors.join('; ')})`, 404)
    }
    throw new ClusterError(`cannot get ${ref} onto ${machine}: ${errors.join('; ')}`, holders.length ? 500 : 502)
  }

  /** One image from one engine into another, streamed: never whole in memory. */
  private async copy(from: Conn, to: Conn, ref: string): Promise<string | undefined> {
    const abort = new AbortController()
    let src
    try {
      src = await from.engine.stream('GET', `/images/${enc(ref)}/get`, {signal: abort.signal})
    } catch (err) {
      return (err as Error).message
    }
    if ((src.statusCode ?? 500) >= 400) {
      src.resume()
      return `GET /images/${ref}/get answered ${src.statusCode}`
    }
    const r = await progress(to, 'POST', '/images/load?quiet=1', {headers: {'Content-Type': 'application/x-tar'}, body: src})
    if (r.error) abort.abort()
    return r.error
  }

  async tag(res: Res, version: string | undefined, ref: string, search: string): Promise<void> {
    const holders = await this.holders(ref)
    if (!holders.length) throw new ClusterError(`No such image: ${ref}`, 404)
    const out = await Promise.all(holders.map(async c => ({machine: c.machine, r: await c.engine.call('POST', `${this.v(version, c.machine)}/images/${enc(ref)}/tag${search}`)})))
    const failed = out.filter(o => o.r.status >= 300)
    if (failed.length) throw combinedError(failed.map(f => ({machine: f.machine, status: f.r.status, error: engineMessage(f.r)})))
    res.writeHead(201, {'Content-Length': '0'})
    res.end()
  }

  /** docker push: from one machine that has the image (they all hold the same one). */
  async push(req: Req, res: Res, version: string | undefined, ref: string, search: string): Promise<void> {
    const name = `${ref}${new URLSearchParams(search).get('tag') ? `:${new URLSearchParams(search).get('tag')}` : ''}`
    const holders = await this.holders(name)
    if (!holders.length) throw new ClusterError(`An image does not exist locally with the tag: ${ref}`, 404)
    this.log(`push ${name} from ${holders[0].machine}`)
    await proxy(req, res, holders[0], `${this.v(version, holders[0].machine)}/images/${enc(ref)}/push${search}`)
  }

  /** docker rmi: wherever the image is. */
  async remove(res: Res, version: string | undefined, ref: string, search: string): Promise<void> {
    const holders = await this.holders(ref)
    if (!holders.length) throw new ClusterError(`No such image: ${ref}`, 404)
    const out = await Promise.all(holders.map(async c => ({machine: c.machine, r: await c.engine.call<unknown[]>('DELETE', `${this.v(version, c.machine)}/images/${enc(ref)}${search}`, undefined, {timeoutMs: 60_000})})))
    const failed = out.filter(o => o.r.status >= 300)
    if (failed.length) throw combinedError(failed.map(f => ({machine: f.machine, status: f.r.status, error: engineMessage(f.r)})))
    const seen = new Set<string>()
    const items = out.flatMap(o => o.r.body ?? []).filter(i => {
      const k = JSON.stringify(i)
      return seen.has(k) ? false : (seen.add(k), true)
    })
    sendJson(res, 200, items)
  }

  /** docker save: from a machine that has every image asked for. */
  async save(req: Req, res: Res, version: string | undefined, refs: string[], upstream: string): Promise<void> {
    if (!refs.length) throw new ClusterError('no image to save given', 400)
    const sets = await Promise.all(refs.map(r => this.holders(r)))
    const common = sets.reduce((a, b) => a.filter(c => b.some(x => x.machine === c.machine)))
    if (!common?.length) throw new ClusterError(`No such image: ${refs.find((_, i) => !sets[i].length) ?? refs.join(', ')} (no one machine has ${refs.join(', ')})`, 404)
    await proxy(req, res, common[0], `${this.v(version, common[0].machine)}${upstream}`)
  }

  /** docker build: on the machine the strategy chooses, the context streamed through. */
  async build(req: Req, res: Res, version: string | undefined, search: string, strategy: StrategyName): Promise<void> {
    const snap = await this.cluster.snapshot()
    const q = new URLSearchParams(search)
    let machine: string
    try {
      machine = new Scheduler(snap.nodes, {strategy}).select(makeRequest({memory: Number(q.get('memory') ?? 0) || 0})).node.id
    } catch (err) {
      if (err instanceof PlacementError) throw new ClusterError(err.message, 409)
      throw err
    }
    this.log(`build on ${machine} by ${strategy}`)
    await proxy(req, res, await this.cluster.connFor(machine), `${this.v(version, machine)}/build${search}`)
  }
}

/** `berth run`'s half of the endpoint's create: the image onto the chosen machine (pulled or copied), no volume rules. */
export function imagePrepare(cluster: Cluster, log: (line: string) => void): Prepare {
  const images = new Images(cluster, log)
  return {rules: async () => [], ready: (machine, config, snap) => images.ensure(machine, String(config.Image), snap)}
}
