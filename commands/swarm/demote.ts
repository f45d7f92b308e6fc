import * as Args from '@oclif/core/args'
import {BerthCommand} from '../_command.js'

export default class SwarmDemote extends BerthCommand<typeof SwarmDemote> {
  static override summary = 'Make a manager a worker (warns when the manager count is even)'
  static override examples = ['<%= config.bin %> swarm demote m2']
  static override args = {machine: Args.string({description: 'Machine name', required: true})}

  async run(): Promise<void> {
    await this.berth().swarm.setRole(this.args.machine!, false)
  }
}
