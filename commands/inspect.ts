import * as Args from '@oclif/core/args'
import {BerthCommand} from './_command.js'
import {machineState} from '../src/machine/index.js'

export default class Inspect extends BerthCommand<typeof Inspect> {
  static override summary = 'Show everything berth knows about a machine, as JSON'
  static override args = {name: Args.string({description: 'Machine name', required: true})}

  async run(): Promise<void> {
    const ctx = this.ctx()
    const record = await ctx.store.load(this.args.name!)
    const status = await machineState(ctx, record)
    this.json({...record, state: status.state, ...(status.error ? {stateError: status.error} : {}), storePath: ctx.store.machineDir(record.name)})
  }
}
