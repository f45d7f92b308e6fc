import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'
import {table} from '../../src/core/index.js'
import {jsonFlag} from '../../src/cli/index.js'

export default class RegistryLs extends BerthCommand<typeof RegistryLs> {
  static override summary = 'List the store\'s registries, with a live check of each'
  static override examples = ['<%= config.bin %> registry ls', '<%= config.bin %> registry ls --swarm lab3 --json']
  static override flags = {
    swarm: Flags.string({summary: 'Only this swarm\'s registries'}),
    ...jsonFlag(),
  }

  async run(): Promise<void> {
    const {listRegistries} = await import('../../src/registry/index.js')
    const rows = await listRegistries(this.berth().ctx, {swarm: this.flags.swarm})
    if (this.flags.json) return this.json(rows)
    this.log(table(['NAME', 'SWARM', 'ADDRESS', 'STATE', 'MIRROR OF', 'AUTH'], rows.map(r => [r.name, r.swarm, r.address, r.state, r.mirror ?? '-', r.user ?? '-'])))
  }
}
