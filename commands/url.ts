import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'

export default class Url extends BerthCommand<typeof Url> {
  static override summary = 'Print the Docker engine URL of a machine'
  static override args = {name: Args.string({description: 'Machine name', required: true})}
  static override flags = {json: Flags.boolean({summary: 'Machine-readable output'})}

  async run(): Promise<void> {
    const berth = this.berth()
    const engine = await berth.engine(await berth.load(this.args.name!))
    engine.close()
    if (this.flags.json) return this.json({url: engine.url})
    this.log(engine.url)
  }
}
