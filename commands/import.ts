import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {jsonFlag, PASSPHRASE_ENV, readPassphrase} from '../src/cli/index.js'
import {UserError} from '../src/core/index.js'
import {BerthCommand} from './_command.js'

export default class Import extends BerthCommand<typeof Import> {
  static override summary = 'Adopt the machines of a docker-machine store, or a machine exported by "berth export"'
  static override description = `With --docker-machine, every machine of the docker-machine store (SOURCE, else MACHINE_STORAGE_PATH, else ~/.docker/machine) becomes a berth machine that keeps its CA and client certificate, SSH key and user, engine address and swarm-mode membership (read from the engine's /info): generic for drivers berth lacks, berth's own driver where it has one. The docker-machine store is only read and nothing on the hosts changes; what could not be carried over is listed.
Without it, SOURCE is a file made by "berth export", decrypted with its passphrase (--passphrase-stdin, else ${PASSPHRASE_ENV}, else asked on the terminal).
An imported machine keeps its own CA. "berth rm" only forgets it, leaving the host as it is, unless --remove-host.`
  static override examples = [
    '<%= config.bin %> import --docker-machine',
    '<%= config.bin %> import --docker-machine ~/old/.docker/machine --name dev --name ci',
    '<%= config.bin %> import node1.berth',
    'pass show berth/node1 | <%= config.bin %> import node1.berth --passphrase-stdin',
  ]
  static override args = {source: Args.string({description: 'The export file; with --docker-machine, the docker-machine store folder'})}
  static override flags = {
    'docker-machine': Flags.boolean({summary: 'SOURCE is a docker-machine store (default: MACHINE_STORAGE_PATH, else ~/.docker/machine)'}),
    name: Flags.string({summary: 'With --docker-machine: import only this machine (repeatable)', multiple: true}),
    'engine-probe': Flags.boolean({summary: 'With --docker-machine: read each engine\'s swarm-mode membership (GET /info); --no-engine-probe contacts no host', default: true, allowNo: true}),
    'passphrase-stdin': Flags.boolean({summary: 'Read the export\'s passphrase from standard input'}),
    ...jsonFlag(),
  }

  async run(): Promise<void> {
    const {args, flags} = this
    const berth = this.berth()
    const transfer = await import('../src/transfer/index.js')
    if (flags['docker-machine']) {
      if (flags['passphrase-stdin']) throw new UserError('--passphrase-stdin is for export files, not --docker-machine', 'usage')
      const root = args.source ?? transfer.dockerMachineStorePath()
      const done = await transfer.importDockerMachine(berth.ctx, root, {names: flags.name, probe: flags['engine-probe']})
      if (flags.json) return this.json(done)
      for (const m of done) {
        this.log(`Imported "${m.name}" (docker-machine driver ${m.from}, berth driver ${m.driver}${m.swarm ? `, ${m.swarm.manager ? 'manager' : 'worker'} of swarm ${m.swarm.name}` : ''})`)
        for (const u of m.unmapped) this.log(`  not carried over: ${u}`)
      }
      return
    }
    if (!args.source) throw new UserError('missing the export file: berth import FILE (or --docker-machine [PATH])', 'usage')
    if (flags.name) throw new UserError('--name is for --docker-machine imports', 'usage')
    const passphrase = await readPassphrase({stdin: flags['passphrase-stdin']})
    const record = await transfer.importBundle(berth.ctx, args.source, passphrase)
    if (flags.json) return this.json({name: record.name, driver: record.driver})
    this.log(`Imported "${record.name}" (driver ${record.driver})`)
  }
}
