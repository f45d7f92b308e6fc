import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'

export default class DashboardCommand extends BerthCommand<typeof DashboardCommand> {
  static override summary = 'Serve a live web page of the swarms: nodes by cloud, their state, tasks and containers'
  static override description = 'Machines are grouped by driver and region; each node shows its state, role, engine version and reservations, with its tasks and other containers as boxes (as dockersamples/visualizer draws them), and the swarm its placement strategy. Engines are read over mutual TLS every --interval seconds and changes are pushed to the page as they happen (server-sent events). The page is served on loopback by default; the URL printed at start holds a random token that every request must carry. No key, certificate or join token is ever sent to the page. Runs in the foreground until Ctrl-C or SIGTERM.'
  static override examples = [
    '<%= config.bin %> dashboard',
    '<%= config.bin %> dashboard --swarm lab3',
    '<%= config.bin %> dashboard --swarm lab3 --listen 127.0.0.1:8080',
    '<%= config.bin %> dashboard --interval 5 --timeout 10',
  ]
  static override flags = {
    swarm: Flags.string({summary: 'Show only this swarm (default: every swarm of the store)'}),
    listen: Flags.string({summary: 'Address to serve the page on (port 0 picks a free one)', default: '127.0.0.1:0'}),
    interval: Flags.integer({summary: 'Seconds between two reads of the engines', default: 1, min: 1}),
    timeout: Flags.integer({char: 't', summary: 'Seconds to wait for each engine', default: 2, min: 1}),
  }

  async run(): Promise<void> {
    const ctx = this.ctx()
    const {parseListen} = await import('../src/manage/index.js')
    const {Dashboard} = await import('../src/dashboard/index.js')
    const listen = parseListen(this.flags.listen)
    const loopback = listen.host === 'localhost' || /^127\.|^::1$/.test(listen.host)
    if (!loopback) ctx.warn?.(`the dashboard listens on ${listen.host}: anyone who can reach it and has the URL sees the cluster (plain HTTP, no TLS)`)
    const d = await Dashboard.start(ctx, {
      swarm: this.flags.swarm, host: listen.host, port: listen.port,
      intervalMs: this.flags.interval * 1000, timeoutMs: this.flags.timeout * 1000,
    })
    this.log(d.url)
    process.stderr.write(`berth dashboard: open the URL above (it holds the access token); Ctrl-C stops\n`)
    await new Promise<void>(resolve => {
      if (this.abort.signal.aborted) resolve()
      this.abort.signal.addEventListener('abort', () => resolve(), {once: true})
    })
    await d.close()
  }
}
