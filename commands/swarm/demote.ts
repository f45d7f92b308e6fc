import * as Args from '@oclif/core/args'
import {BerthCommand} from '../_command.js'
import {withLock} from '../../src/machine/index.js'
import {setRole} from '../../src/swarm/index.js'

export default class SwarmDemote extends BerthCommand<typeof SwarmDemote> {
  static override summary = 'Make a manager a worker (warns when the manager count is even)'
  static override args = {machine: Args.string({description: 'Machine name', required: true})}

  async run(): Promise<void> {
    const ctx = this.ctx()
    await withLock(ctx, this.args.machine!, record => setRole(ctx, record, false))
  }
}
