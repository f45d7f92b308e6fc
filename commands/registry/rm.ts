import * as Args from '@oclif/core/args'
import {BerthCommand} from '../_command.js'

export default class RegistryRm extends BerthCommand<typeof RegistryRm> {
  static override summary = 'Remove a registry: its service and storage on the host, and every member\'s trust and mirror entry'
  static override examples = ['<%= config.bin %> registry rm m1:5000']
  static override args = {registry: Args.string({description: 'MACHINE:PORT, its address, or a machine with one registry', required: true})}

  async run(): Promise<void> {
    const {removeRegistry} = await import('../../src/registry/index.js')
    const r = await removeRegistry(this.berth().ctx, this.args.registry!)
    this.log(`removed registry ${r.address}`)
  }
}
