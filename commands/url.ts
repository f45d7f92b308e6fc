import {BerthCommand} from './_command.js'
import {defaultMachineArgs, jsonFlag, requireRunning} from '../src/cli/index.js'

export default class Url extends BerthCommand<typeof Url> {
  static override summary = 'Print the Docker engine URL of a machine'
  static override description = 'A machine that is not running is an error (exit 1, "Host is not running"), as in docker-machine.'
  static override examples = ['<%= config.bin %> url node1', 'curl --cert ... "$(<%= config.bin %> url node1 | sed s/^tcp/https/)/_ping"']
  static override defaultMachine = true
  static override args = defaultMachineArgs()
  static override flags = jsonFlag()

  async run(): Promise<void> {
    const berth = this.berth()
    const record = await berth.load(this.args.name!)
    await requireRunning(berth, record)
    const engine = await berth.engine(record)
    engine.close()
    if (this.flags.json) return this.json({url: engine.url})
    this.log(engine.url)
  }
}
