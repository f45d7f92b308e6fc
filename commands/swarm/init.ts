import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'
import {ExistsError} from '../../src/core/index.js'
import {parseLabels} from '../../src/options/index.js'

export default class SwarmInit extends BerthCommand<typeof SwarmInit> {
  static override summary = 'Start a new swarm with a machine as its first manager'
  static override examples = ['<%= config.bin %> swarm init m1 --name lab3']
  static override args = {machine: Args.string({description: 'Machine name', required: true})}
  static override flags = {
    name: Flags.string({summary: 'Swarm name (default: the machine\'s name)'}),
    'advertise-addr': Flags.string({summary: 'Address other members reach this one at'}),
    'data-path-addr': Flags.string({summary: 'Address for overlay (data path) traffic'}),
    label: Flags.string({summary: 'Node label key=value (repeatable)', multiple: true, multipleNonGreedy: true}),
  }

  async run(): Promise<void> {
    const {swarm} = this.berth()
    const name = this.flags.name ?? this.args.machine!
    if ((await swarm.names()).includes(name)) throw new ExistsError(`swarm "${name}" already exists: use "berth swarm join ${name} MACHINE"`)
    await swarm.join(this.args.machine!, {
      name, manager: true, advertiseAddr: this.flags['advertise-addr'], dataPathAddr: this.flags['data-path-addr'], labels: parseLabels(this.flags.label, 'label'),
    })
    this.log(name)
  }
}
