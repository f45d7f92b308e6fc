import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import os from 'node:os'
import {BerthCommand} from './_command.js'
import {machineErrorLine} from '../src/cli/index.js'
import {driverFlags, driverOptions, engineFlags, engineOptions} from '../src/options/index.js'
import {DEFAULT_DRIVER} from '../drivers/index.js'
import {registry} from '../drivers/flags.js'
import {exitCodeOf, UserError} from '../src/core/index.js'
import {defaultParallel, type HostWeight, parallel} from '../src/core/index.js'
import {validateName} from '../src/store/index.js'
import {adoptStoreTls, ignoredSwarmNote, meshOptions, swarmCreateFlags, swarmJoinOptions, rewriteLegacySwarmArgv} from '../src/options/index.js'

const HOST_WEIGHT: Record<string, HostWeight> = {lab: 'process', qemu: 'vm', virtualbox: 'vm'}

export default class Create extends BerthCommand<typeof Create> {
  static override summary = 'Create machines, install Docker on them and secure it with mutual TLS'
  static override description = 'Several names create several machines in parallel (bounded by --parallel). A failed create removes everything it made.'
  static override examples = [
    '<%= config.bin %> create node1',
    '<%= config.bin %> create -d lab node1 node2 node3',
    '<%= config.bin %> create -d generic --generic-ip-address 203.0.113.10 --generic-ssh-user ubuntu web1',
    '<%= config.bin %> create --swarm lab3 m1 w1 w2',
    '<%= config.bin %> create --swarm lab3 --swarm-manager --swarm-label tier=front m2 m3',
    '<%= config.bin %> create --swarm home --swarm-mode classic --swarm-master head && <%= config.bin %> create --swarm home w1 w2',
    '<%= config.bin %> create --swarm hy --swarm-mesh wireguard head w1 w2',
  ]
  static override strict = false
  static override args = {name: Args.string({description: 'Machine name(s)', required: true})}
  static override flags = {
    driver: Flags.string({char: 'd', summary: 'Driver to create machines with', default: DEFAULT_DRIVER, env: 'BERTH_DRIVER'}),
    parallel: Flags.integer({summary: 'How many machines to create at once [default: 4 per core for lab, 1 per core for qemu and virtualbox, 32 for cloud and generic drivers]', min: 1}),
    'ssh-timeout': Flags.integer({summary: 'Seconds to wait for SSH (default: the driver\'s)', min: 1}),
    ...engineFlags,
    ...swarmCreateFlags,
    ...driverFlags(registry),
  }

  public override async init(): Promise<void> {
    // docker-machine's `--swarm` was a switch; berth's takes the swarm's name. Map the old form.
    const {argv, note} = rewriteLegacySwarmArgv(this.argv)
    this.argv = argv
    for (const n of [note, ignoredSwarmNote(argv, process.env)]) if (n) process.stderr.write(`note: ${n}\n`)
    await super.init()
  }

  async run(): Promise<void> {
    const names = this.argv
    const berth = this.berth()
    for (const n of names) validateName(n)
    const dup = names.find((n, i) => names.indexOf(n) !== i)
    if (dup) throw new UserError(`machine "${dup}" named twice`)
    const flags = this.flags as Record<string, unknown>
    const driver = String(flags.driver)
    const opts = {
      driver,
      driverOptions: driverOptions(registry, driver, flags, process.argv, m => berth.ctx.warn?.(m)),
      engine: engineOptions(flags),
      sshTimeoutSec: flags['ssh-timeout'] as number | undefined,
      swarm: swarmJoinOptions(flags),
      mesh: meshOptions(flags),
    }
    const tlsNote = await adoptStoreTls(berth.store.certsDir)
    if (tlsNote) process.stderr.write(`note: ${tlsNote}\n`)
    if (opts.swarm) {
      if (!(await berth.swarm.members(opts.swarm.name)).length) opts.swarm.initialiser = names[0]
    }
    const limit = (flags.parallel as number | undefined) ?? defaultParallel(HOST_WEIGHT[driver] ?? 'remote', os.availableParallelism())
    if (names.length > 1) process.stderr.write(`creating ${names.length} machines, ${Math.min(limit, names.length)} at a time${flags.parallel ? '' : ` (--parallel default for ${driver} on ${os.availableParallelism()} cores)`}\n`)
    const results = await parallel(names, limit, name => berth.create(name, opts))
    const failed = results.map((r, i) => [names[i], r] as const).filter(([, r]) => r.status === 'rejected')
    if (failed.length === 1 && names.length === 1) throw (failed[0][1] as PromiseRejectedResult).reason
    for (const [name, r] of failed) process.stderr.write(`${machineErrorLine(name, (r as PromiseRejectedResult).reason)}\n`)
    if (failed.length) {
      const interrupted = failed.some(([, r]) => exitCodeOf((r as PromiseRejectedResult).reason) === 130)
      throw new UserError(`${failed.length} of ${names.length} machines failed to create`, interrupted ? 130 : 1)
    }
    for (const n of names) this.log(n)
  }
}
