import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'
import {errorMessage, UserError} from '../../src/core/index.js'
import {parseLabels} from '../../src/options/index.js'

export default class SwarmJoin extends BerthCommand<typeof SwarmJoin> {
  static override summary = 'Join machines to a swarm (join tokens are fetched and used, never shown)'
  static override examples = ['<%= config.bin %> swarm join lab3 w3 w4', '<%= config.bin %> swarm join lab3 m2 m3 --manager']
  static override strict = false
  static override args = {
    swarm: Args.string({description: 'Swarm name', required: true}),
    machine: Args.string({description: 'Machine name(s)', required: true}),
  }
  static override flags = {
    manager: Flags.boolean({summary: 'Join as managers'}),
    'advertise-addr': Flags.string({summary: 'Address other members reach the machine at (one machine only)'}),
    label: Flags.string({summary: 'Node label key=value (repeatable)', multiple: true, multipleNonGreedy: true}),
  }

  async run(): Promise<void> {
    const [swarm, ...machines] = this.argv
    if (this.flags['advertise-addr'] && machines.length > 1) throw new UserError('--advertise-addr names one machine\'s address: join one machine at a time with it')
    const berth = this.berth()
    let failed = 0
    // One at a time: joins through the same manager are serialised by the swarm lock anyway.
    for (const m of machines) {
      try {
        await berth.swarm.join(m, {name: swarm, manager: Boolean(this.flags.manager), advertiseAddr: this.flags['advertise-addr'], labels: parseLabels(this.flags.label, 'label')}, {ssh: true})
      } catch (err) {
        if (machines.length === 1) throw err
        failed++
        process.stderr.write(`berth: ${m}: ${errorMessage(err)}\n`)
      }
    }
    if (failed) throw new UserError(`${failed} of ${machines.length} machines failed to join`)
  }
}
