import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'

export default class Status extends BerthCommand<typeof Status> {
  static override summary = 'Print the state of a machine (Running, Stopped, Error...)'
  static override args = {name: Args.string({description: 'Machine name', required: true})}
  static override flags = {json: Flags.boolean({summary: 'Machine-readable output'})}

  async run(): Promise<void> {
    const berth = this.berth()
    const st = await berth.state(await berth.load(this.args.name!))
    if (this.flags.json) return this.json(st)
    this.log(st.state)
  }
}
