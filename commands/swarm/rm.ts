import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {confirm} from '../../src/cli/index.js'
import {BerthCommand} from '../_command.js'
import {UserError} from '../../src/core/index.js'

export default class SwarmRm extends BerthCommand<typeof SwarmRm> {
  static override summary = 'Dissolve a swarm: every member leaves (the machines stay)'
  static override examples = ['<%= config.bin %> swarm rm -y lab3']
  static override args = {swarm: Args.string({description: 'Swarm name', required: true})}
  static override flags = {yes: Flags.boolean({char: 'y', summary: 'Do not ask for confirmation'})}

  async run(): Promise<void> {
    if (!this.flags.yes && !await confirm(`Dissolve swarm ${this.args.swarm}? Its services stop.`)) throw new UserError('not confirmed: pass -y to dissolve without asking')
    await this.berth().swarm.dissolve(this.args.swarm!)
  }
}
