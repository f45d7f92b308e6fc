import * as Args from '@oclif/core/args'
import {BerthCommand} from './_command.js'
import {jsonFlag} from '../src/cli/index.js'

export default class Ip extends BerthCommand<typeof Ip> {
  static override summary = 'Print the IP address of machines'
  static override examples = ['<%= config.bin %> ip node1', '<%= config.bin %> ip node1 node2 --json', 'ssh root@$(<%= config.bin %> ip node1)']
  static override strict = false
  static override defaultMachine = true
  static override args = {name: Args.string({description: 'Machine name(s); default: the machine named "default"'})}
  static override flags = jsonFlag()

  async run(): Promise<void> {
    const berth = this.berth()
    const out: Record<string, string> = {}
    for (const name of this.argv) out[name] = await berth.ip(await berth.load(name))
    if (this.flags.json) return this.json(out)
    for (const ip of Object.values(out)) this.log(ip)
  }
}
