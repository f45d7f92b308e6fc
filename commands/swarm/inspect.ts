import * as Args from '@oclif/core/args'
import {BerthCommand} from '../_command.js'
import {NotFoundError} from '../../src/core/index.js'

export default class SwarmInspect extends BerthCommand<typeof SwarmInspect> {
  static override summary = 'Show a swarm\'s (or classic group\'s) mode and nodes (role, state, availability, reachability, labels) as JSON'
  static override examples = ['<%= config.bin %> swarm inspect lab3']
  static override args = {swarm: Args.string({description: 'Swarm name', required: true})}

  async run(): Promise<void> {
    const {swarm} = this.berth()
    if (!(await swarm.members(this.args.swarm!)).length) throw new NotFoundError(`swarm "${this.args.swarm}" does not exist`)
    this.json(await swarm.describe(this.args.swarm!))
  }
}
