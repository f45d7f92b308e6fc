import * as Args from '@oclif/core/args'
import {BerthCommand} from '../_command.js'

export default class RegistryInspect extends BerthCommand<typeof RegistryInspect> {
  static override summary = 'Show one registry as JSON (address, host, swarm, mirror, state)'
  static override examples = ['<%= config.bin %> registry inspect m1:5000', '<%= config.bin %> registry inspect m1']
  static override args = {registry: Args.string({description: 'MACHINE:PORT, its address, or a machine with one registry', required: true})}

  async run(): Promise<void> {
    const {inspectRegistry} = await import('../../src/registry/index.js')
    this.json(await inspectRegistry(this.berth().ctx, this.args.registry!))
  }
}
