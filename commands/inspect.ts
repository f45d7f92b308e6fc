import * as Args from '@oclif/core/args'
import {BerthCommand} from './_command.js'

export default class Inspect extends BerthCommand<typeof Inspect> {
  static override summary = 'Show everything berth knows about a machine, as JSON'
  static override args = {name: Args.string({description: 'Machine name', required: true})}

  async run(): Promise<void> {
    const berth = this.berth()
    const record = await berth.load(this.args.name!)
    const status = await berth.state(record)
    this.json({...record, state: status.state, ...(status.error ? {stateError: status.error} : {}), storePath: berth.store.machineDir(record.name)})
  }
}
