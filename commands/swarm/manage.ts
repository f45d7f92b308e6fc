import {spawn} from 'node:child_process'
import {openSync, promises as fs} from 'node:fs'
import path from 'node:path'
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'
import {pidAlive, poll, UserError} from '../../src/core/index.js'
import {STRATEGY_NAMES} from '../../src/placement/index.js'

export default class SwarmManage extends BerthCommand<typeof SwarmManage> {
  static override summary = 'Serve a Docker API endpoint that places plain `docker run` across a swarm\'s (or classic group\'s) machines'
  static override description = 'As classic Swarm\'s manager did: mutual TLS with the store\'s CA; `docker run` is placed by strategy and filters (-e constraint:key==value, -e affinity:container!=web, -p host ports), ps/images/info cover every machine, and container commands (inspect, logs, stop, start, rm, exec) go to the machine that holds the container. An image missing on the chosen machine is pulled there (a registry) or copied from a member that has it; pull, tag and rmi reach every machine, build runs on one the strategy picks; networks are attachable overlays, a volume is made where its first container lands, so docker-compose up/down works. Runs in the foreground until Ctrl-C or SIGTERM. The default strategy is the one given at `create --swarm-strategy`, else spread.'
  static override examples = [
    '<%= config.bin %> swarm manage lab3',
    '<%= config.bin %> swarm manage lab3 --strategy binpack --listen 127.0.0.1:3376',
    'eval $(<%= config.bin %> env --swarm lab3 --manage) && docker run -d -e constraint:region==tyo1 nginx',
    '<%= config.bin %> swarm manage lab3 --detach && <%= config.bin %> swarm manage lab3 --stop',
  ]
  static override args = {swarm: Args.string({description: 'Swarm name', required: true})}
  static override flags = {
    strategy: Flags.string({summary: 'Placement strategy (default: the swarm\'s --swarm-strategy, else spread)', options: [...STRATEGY_NAMES]}),
    listen: Flags.string({summary: 'Address to listen on (port 0 picks a free one)', default: '127.0.0.1:3376'}),
    timeout: Flags.integer({char: 't', summary: 'Seconds to wait for each engine', default: 5, min: 1}),
    detach: Flags.boolean({summary: 'Run in the background (log in <store>/swarms/SWARM.manage.log)'}),
    stop: Flags.boolean({summary: 'Stop the swarm\'s running endpoint'}),
  }

  async run(): Promise<void> {
    const ctx = this.ctx()
    const swarm = this.args.swarm!
    const {parseListen, readManageState, writeManageState, clearManageState, ManageEndpoint} = await import('../../src/manage/index.js')
    const running = await readManageState(ctx.store, swarm)
    if (this.flags.stop) {
      if (!running) throw new UserError(`no manage endpoint is running for swarm "${swarm}"`)
      process.kill(running.pid, 'SIGTERM')
      await poll(async () => (pidAlive(running.pid) ? undefined : true), {timeoutMs: 10_000, intervalMs: 50}).catch(() => {})
      if (pidAlive(running.pid)) throw new UserError(`the endpoint (pid ${running.pid}) did not stop within 10 s`)
      this.log(`stopped ${running.url}`)
      return
    }
    const {members} = await import('../../src/swarm/index.js')
    const {defaultStrategy, parseStrategy} = await import('../../src/cluster/index.js')
    const recs = await members(ctx, swarm)
    if (!recs.length) throw new UserError(`swarm "${swarm}" does not exist`)
    if (running) throw new UserError(`swarm "${swarm}" already has a manage endpoint at ${running.url} (pid ${running.pid}): stop it with "berth swarm manage ${swarm} --stop"`)
    const listen = parseListen(this.flags.listen)
    if (this.flags.detach) return this.detach(swarm)
    const strategy = parseStrategy(this.flags.strategy) ?? defaultStrategy(recs)
    const ep = await ManageEndpoint.start(ctx, {
      swarm, strategy, host: listen.host, port: listen.port, timeoutMs: this.flags.timeout * 1000, trace: this.flags.debug,
      log: line => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
    })
    await writeManageState(ctx.store, {swarm, pid: process.pid, host: ep.host, port: ep.port, url: ep.url, strategy, startedAt: new Date().toISOString()})
    const kind = recs.some(r => r.swarm?.mode === 'classic') ? 'classic group' : 'swarm'
    this.log(`${kind} ${swarm}: ${strategy} over ${recs.map(r => r.name).join(', ')}, listening on ${ep.url} (mutual TLS, the store's CA)`)
    this.log(`point docker at it: eval $(berth env --swarm ${swarm} --manage)`)
    await new Promise<void>(resolve => {
      if (this.abort.signal.aborted) resolve()
      this.abort.signal.addEventListener('abort', () => resolve(), {once: true})
    })
    await clearManageState(ctx.store, swarm)
    await ep.close()
    process.stderr.write(`stopped ${ep.url}\n`)
  }

  /** Starts this same command in the background and waits until its endpoint answers. */
  private async detach(swarm: string): Promise<void> {
    const ctx = this.ctx()
    const {readManageState} = await import('../../src/manage/index.js')
    const dir = path.join(ctx.store.root, 'swarms')
    await fs.mkdir(dir, {recursive: true, mode: 0o700})
    const logPath = path.join(dir, `${swarm}.manage.log`)
    const log = openSync(logPath, 'a', 0o600)
    const argv = process.argv.slice(2).filter(a => a !== '--detach')
    const child = spawn(process.execPath, [process.argv[1], ...argv], {detached: true, stdio: ['ignore', log, log], env: {...process.env, BERTH_STORAGE_PATH: ctx.store.root}})
    let exited: number | null | undefined
    child.on('exit', code => (exited = code))
    // The child writes its state file once it listens; an early exit ends the wait at once.
    const st = await poll(async () => {
      const state = await readManageState(ctx.store, swarm)
      if (state && state.pid === child.pid) return state
      return exited === undefined ? undefined : null
    }, {timeoutMs: 15_000, intervalMs: 50}).catch(() => undefined)
    if (st) {
      child.unref()
      this.log(`listening on ${st.url} (pid ${st.pid}, log ${logPath})`)
      return
    }
    const tail = (await fs.readFile(logPath, 'utf8').catch(() => '')).trim().split('\n').pop()
    if (exited === undefined) child.kill('SIGTERM')
    throw new UserError(`the endpoint did not start${tail ? `: ${tail.replace(/^berth: /, '')}` : ''}`)
  }
}
