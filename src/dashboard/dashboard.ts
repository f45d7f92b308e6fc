/**
 * `berth dashboard`: polls the swarms' engines, keeps the current view, and pushes what changed
 * to every open page. One read of all swarms at a time; the next starts `intervalMs` after the
 * previous one ended, so a slow (down) engine never piles reads up.
 */
import type http from 'node:http'
import {errorMessage, sleep, UserError} from '../core/index.js'
import type {Ctx} from '../host/index.js'
import {type Activity, describeChanges, type LeftSlots} from './activity.js'
import {asset} from './assets.js'
import {diff} from './client/patch.js'
import {buildView, type RawSwarm, type View} from './model.js'
import {listen, newToken} from './server.js'
import {listSwarms, SwarmSource} from './source.js'
import {EventHub} from './sse.js'

export interface DashboardOptions {
  /** One swarm; every swarm of the store when absent. */
  swarm?: string
  host: string
  port: number
  intervalMs?: number
  /** Per engine, for one read. */
  timeoutMs?: number
  /** The token to require (tests); a random one otherwise. */
  token?: string
}

const KEEP_ACTIVITY = 200

export class Dashboard {
  private view: View = {at: 0, swarms: {}}
  private activity: Activity[] = []
  private readonly leftSlots: LeftSlots = new Map()
  private readonly sources = new Map<string, SwarmSource>()
  private readonly hub = new EventHub()
  private readonly stop = new AbortController()
  private loop?: Promise<void>
  private server?: http.Server
  url = ''

  private constructor(private readonly ctx: Ctx, private readonly opts: DashboardOptions) {}

  static async start(ctx: Ctx, opts: DashboardOptions): Promise<Dashboard> {
    const names = await listSwarms(ctx, opts.swarm)
    if (!names.length) throw new UserError('there are no swarms: form one with "berth create --swarm NAME ..."')
    const d = new Dashboard(ctx, opts)
    // The first read is done before the URL is given out: the page opens on real data.
    await d.tick()
    const token = opts.token ?? newToken()
    const {server, url} = await listen({
      host: opts.host, port: opts.port, token, hub: d.hub, asset,
      initial: () => [{event: 'snapshot', data: {view: d.view, activity: d.activity}}],
    })
    d.server = server
    d.url = url
    d.loop = d.run()
    return d
  }

  /** The current view (what state.json and a new page get). */
  current(): View {
    return this.view
  }

  private async run(): Promise<void> {
    const signal = AbortSignal.any([this.stop.signal, ...(this.ctx.signal ? [this.ctx.signal] : [])])
    while (!signal.aborted) {
      try {
        await sleep(this.opts.intervalMs ?? 1500, signal)
      } catch {
        return
      }
      await this.tick().catch(err => this.ctx.warn?.(`dashboard: ${errorMessage(err)}`))
    }
  }

  private async tick(): Promise<void> {
    const names = this.opts.swarm ? [this.opts.swarm] : await listSwarms(this.ctx)
    for (const [name, s] of this.sources) {
      if (names.includes(name)) continue
      s.close()
      this.sources.delete(name)
    }
    const raws = await Promise.all(names.map(async (name): Promise<RawSwarm> => {
      let s = this.sources.get(name)
      if (!s) this.sources.set(name, (s = new SwarmSource(this.ctx, name, this.opts.timeoutMs ?? 2500)))
      return s.read().catch(err => ({name, strategy: '', members: [], engines: [], error: errorMessage(err)}))
    }))
    if (this.stop.signal.aborted) return
    const next = buildView(raws)
    const prev = this.view.at ? this.view : undefined
    const ops = diff(this.view, next)
    const news = describeChanges(prev, next, 40, this.leftSlots)
    this.view = next
    this.activity = [...this.activity, ...news].slice(-KEEP_ACTIVITY)
    if (ops.length) this.hub.send({event: 'patch', data: {ops}})
    if (news.length) this.hub.send({event: 'activity', data: news})
  }

  async close(): Promise<void> {
    this.stop.abort()
    await this.loop
    this.hub.close()
    for (const s of this.sources.values()) s.close()
    this.sources.clear()
    const server = this.server
    if (!server) return
    await new Promise<void>(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
}
