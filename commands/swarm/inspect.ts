import * as Args from '@oclif/core/args'
import {BerthCommand} from '../_command.js'
import {UserError} from '../../src/core/index.js'
import {describeSwarm, members} from '../../src/swarm/index.js'

export default class SwarmInspect extends BerthCommand<typeof SwarmInspect> {
  static override summary = 'Show a swarm\'s nodes (role, state, availability, reachability, labels) as JSON'
  static override args = {swarm: Args.string({description: 'Swarm name', required: true})}

  async run(): Promise<void> {
    const ctx = this.ctx()
    if (!(await members(ctx, this.args.swarm!)).length) throw new UserError(`swarm "${this.args.swarm}" does not exist`)
    this.json(await describeSwarm(ctx, this.args.swarm!))
  }
}
