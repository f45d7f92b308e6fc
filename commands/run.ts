import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {UserError} from '../src/core/index.js'
import {STRATEGY_NAMES} from '../src/placement/index.js'

type FlagDefs = Record<string, {type: string; char?: string}>

/**
 * Flags end at the image, as with `docker run`: `berth run -m 1g bb sh -c "echo hi"` must not read
 * the command's -c as berth's. Everything from the image on is passed after `--`.
 */
export function splitAtImage(argv: string[], flags: FlagDefs): string[] {
  const takesValue = new Set<string>()
  for (const [name, f] of Object.entries(flags)) {
    if (f.type !== 'option') continue
    takesValue.add(`--${name}`)
    if (f.char) takesValue.add(`-${f.char}`)
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') return argv
    if (!a.startsWith('-') || a === '-') return [...argv.slice(0, i), '--', ...argv.slice(i)]
    if (a.includes('=') && a.startsWith('--')) continue
    if (takesValue.has(a)) i++
  }
  return argv
}

/** `-p [ip:]host:container[/proto]` or `-p container[/proto]`. */
export function parsePublish(list: readonly string[]): {exposed: Record<string, object>; bindings: Record<string, Array<{HostIp: string; HostPort: string}>>} {
  const exposed: Record<string, object> = {}
  const bindings: Record<string, Array<{HostIp: string; HostPort: string}>> = {}
  for (const spec of list) {
    const m = /^(?:(?:\[([^\]]+)\]|(\d+\.\d+\.\d+\.\d+)):)?(?:(\d+(?:-\d+)?)?:)?(\d+(?:-\d+)?)(?:\/(tcp|udp|sctp))?$/.exec(spec)
    if (!m) throw new UserError(`bad -p "${spec}": use [ip:]host-port:container-port[/tcp|udp]`)
    const key = `${m[4]}/${m[5] ?? 'tcp'}`
    exposed[key] = {}
    ;(bindings[key] ??= []).push({HostIp: m[1] ?? m[2] ?? '', HostPort: m[3] ?? ''})
  }
  return {exposed, bindings}
}

export default class Run extends BerthCommand<typeof Run> {
  static override summary = 'Run a container on the machine the placement strategy and filters choose'
  static override description = 'Reads every engine over mutual TLS (capacity, containers and their reservations, images, labels), places the container with the strategy (spread, binpack, random; default: the swarm\'s --swarm-strategy, else spread) and the filters (-e constraint:key==value, -e affinity:container!=web, label==, host ports), then creates and starts it there. An image the chosen machine lacks is pulled there (a reference naming a registry, or through the machine\'s mirror) or copied from a member that has it, as the swarm manage endpoint does. Prints MACHINE/NAME.'
  static override examples = [
    '<%= config.bin %> run --swarm lab3 -d bb:v1 sleep 1000',
    '<%= config.bin %> run --swarm lab3 --strategy binpack -m 512m -c 0.5 -d --name web nginx',
    '<%= config.bin %> run --machines node1,node2 -e constraint:region==tyo1 -e affinity:container!=web -d nginx',
    '<%= config.bin %> run --swarm lab3 -p 80:80 -d nginx',
  ]
  static override strict = false
  static override args = {image: Args.string({description: 'Image (on a machine, or in a registry the machines trust), then the command and its arguments', required: true})}
  static override flags = {
    swarm: Flags.string({summary: 'Place across the machines of this swarm'}),
    machines: Flags.string({summary: 'Place across these machines (comma-separated; default: every machine)'}),
    strategy: Flags.string({summary: 'spread, binpack or random', options: [...STRATEGY_NAMES]}),
    env: Flags.string({char: 'e', summary: 'KEY=VALUE, or a rule: constraint:KEY==VALUE, affinity:container!=NAME (repeatable)', multiple: true, multipleNonGreedy: true}),
    memory: Flags.string({char: 'm', summary: 'Memory to reserve and limit to, e.g. 512m, 1g'}),
    cpus: Flags.string({char: 'c', summary: 'CPUs to reserve and limit to, e.g. 0.5'}),
    publish: Flags.string({char: 'p', summary: 'Publish a port: [ip:]host:container[/proto] (repeatable)', multiple: true, multipleNonGreedy: true}),
    name: Flags.string({summary: 'Container name (unique across the machines)'}),
    label: Flags.string({char: 'l', summary: 'Container label key=value (repeatable)', multiple: true, multipleNonGreedy: true}),
    detach: Flags.boolean({char: 'd', summary: 'Print MACHINE/NAME and return; without it, follow the output and exit with the container\'s code'}),
    json: Flags.boolean({summary: 'Print the placement as JSON'}),
    timeout: Flags.integer({char: 't', summary: 'Seconds to wait for each engine', default: 5, min: 1}),
  }

  public override async init(): Promise<void> {
    this.argv = splitAtImage(this.argv, {...Run.baseFlags, ...Run.flags})
    await super.init()
  }

  async run(): Promise<void> {
    const [image, ...cmd] = this.argv
    const f = this.flags
    const [{Cluster, ClusterError, defaultStrategy, parseMemory, parseStrategy}, {demux, engineMessage}, {imagePrepare}] = await Promise.all([import('../src/cluster/index.js'), import('../src/engine/index.js'), import('../src/manage/index.js')])
    const ctx = this.ctx()
    const cpus = f.cpus === undefined ? 0 : Number(f.cpus)
    if (!Number.isFinite(cpus) || cpus < 0) throw new UserError(`bad --cpus "${f.cpus}": use a number of CPUs, e.g. 0.5`)
    const memory = f.memory === undefined ? 0 : parseMemory(f.memory)
    const env: string[] = []
    for (const e of f.env ?? []) {
      if (e.includes('=')) env.push(e)
      else if (process.env[e] !== undefined) env.push(`${e}=${process.env[e]}`)
    }
    const labels: Record<string, string> = {}
    for (const l of f.label ?? []) {
      const eq = l.indexOf('=')
      labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1)
    }
    const ports = parsePublish(f.publish ?? [])
    const config = {
      Image: image,
      ...(cmd.length ? {Cmd: cmd} : {}),
      Env: env,
      Labels: labels,
      ExposedPorts: ports.exposed,
      AttachStdout: !f.detach,
      AttachStderr: !f.detach,
      HostConfig: {
        ...(memory ? {Memory: memory} : {}),
        ...(cpus ? {NanoCpus: Math.round(cpus * 1e9)} : {}),
        PortBindings: ports.bindings,
      },
    }
    const cluster = new Cluster(ctx, {swarm: f.swarm, machines: f.machines?.split(',').map(s => s.trim()).filter(Boolean)}, {timeoutMs: f.timeout * 1000})
    try {
      const records = await cluster.records()
      const strategy = parseStrategy(f.strategy) ?? defaultStrategy(records)
      const prepare = imagePrepare(cluster, line => process.stderr.write(`${line}\n`))
      const placed = await cluster.create(config, {name: f.name, strategy, prepare})
      const {engine} = await cluster.connFor(placed.machine)
      const started = await engine.call('POST', `/containers/${placed.id}/start`)
      if (started.status >= 400) {
        // A container that cannot start is removed, so a failed run leaves nothing behind.
        await engine.call('DELETE', `/containers/${placed.id}?force=1`).catch(() => {})
        throw new ClusterError(`${placed.machine}: ${engineMessage(started)} (the container was removed)`, started.status)
      }
      const inspect = await engine.call<{Name: string}>('GET', `/containers/${placed.id}/json`)
      const name = inspect.body?.Name?.replace(/^\//, '') ?? placed.id.slice(0, 12)
      for (const w of placed.warnings) process.stderr.write(`warning: ${w}\n`)
      if (placed.softDropped) process.stderr.write('warning: no machine met every soft (~) rule; they were dropped\n')
      if (f.json) this.json({machine: placed.machine, name, id: placed.id, image, strategy})
      else if (f.detach) this.log(`${placed.machine}/${name}`)
      else process.stderr.write(`${placed.machine}/${name}\n`)
      if (f.detach) return
      // The output until the container exits, split back into stdout and stderr.
      await demux(await engine.stream('GET', `/containers/${placed.id}/logs?follow=1&stdout=1&stderr=1`), (fd, data) => (fd === 2 ? process.stderr : process.stdout).write(data))
      const waited = await engine.call<{StatusCode?: number}>('POST', `/containers/${placed.id}/wait`, undefined, {timeoutMs: 24 * 3600_000})
      process.exitCode = waited.body?.StatusCode ?? 0
    } finally {
      cluster.close()
    }
  }
}
