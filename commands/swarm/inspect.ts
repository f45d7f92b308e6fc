import * as Args from '@oclif/core/args'
import {BaseCommand} from '../../src/cli.js'
import {UserError} from '../../src/errors.js'
import {describeSwarm, members} from '../../src/swarm.js'

export default class SwarmInspect extends BaseCommand<typeof SwarmInspect> {
  static override summary = 'Show a swarm\'s nodes (role, state, availability, reachability, labels) as JSON'
  static override args = {swarm: Args.string({description: 'Swarm name', required: true})}

  async run(): Promise<void> {
    const ctx = this.ctx()
    if (!(await members(ctx, this.args.swarm!)).length) throw new UserError(`swarm "${this.args.swarm}" does not exist`)
    this.json(await describeSwarm(ctx, this.args.swarm!))
  }
}
