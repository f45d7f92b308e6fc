import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'

export default class SwarmLeave extends BerthCommand<typeof SwarmLeave> {
  static override summary = 'Drain a machine, make it leave its swarm and remove its node entry'
  static override examples = ['<%= config.bin %> swarm leave w1', '<%= config.bin %> swarm leave -f m1']
  static override args = {machine: Args.string({description: 'Machine name', required: true})}
  static override flags = {force: Flags.boolean({char: 'f', summary: 'Leave even as the last manager of a swarm with workers'})}

  async run(): Promise<void> {
    await this.berth().swarm.leave(this.args.machine!, {force: this.flags.force})
  }
}
