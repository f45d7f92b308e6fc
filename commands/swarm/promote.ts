import * as Args from '@oclif/core/args'
import {BerthCommand} from '../_command.js'

export default class SwarmPromote extends BerthCommand<typeof SwarmPromote> {
  static override summary = 'Make a worker a manager (warns when the manager count is even)'
  static override examples = ['<%= config.bin %> swarm promote w1']
  static override args = {machine: Args.string({description: 'Machine name', required: true})}

  async run(): Promise<void> {
    await this.berth().swarm.setRole(this.args.machine!, true)
  }
}
