import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {registry} from '../drivers/flags.js'
import {UserError} from '../src/core/index.js'
import {loadClusterFile, summarise, up} from '../src/clusterfile/index.js'

export default class Up extends BerthCommand<typeof Up> {
  static override summary = 'Make the machines and swarm of a cluster file real: create what is missing, change labels and roles, remove what the file dropped'
  static override description = 'Managers are created one at a time (the first initialises the swarm), then workers in parallel. A machine that fails is rolled back alone; run up again to resume. Only machines made from this file are changed or removed.'
  static override examples = [
    '<%= config.bin %> up -f cluster.yml',
    '<%= config.bin %> up -f cluster.yml --parallel 4',
  ]
  static override flags = {
    file: Flags.string({char: 'f', summary: 'Cluster file (YAML)', required: true}),
    parallel: Flags.integer({summary: 'How many machines to create or remove at once', default: 8, min: 1}),
    force: Flags.boolean({summary: 'Remove or demote managers even below the swarm\'s quorum; remove records of hosts that cannot be removed'}),
  }

  async run(): Promise<void> {
    const spec = await loadClusterFile(this.flags.file, registry)
    const out = await up(this.ctx(), spec, {parallel: this.flags.parallel, force: this.flags.force})
    if (!out.plan.changed) {
      this.log(summarise(out.plan))
      return
    }
    for (const i of out.done) this.log(`${i.action === 'create' ? 'created' : i.action === 'remove' ? 'removed' : 'changed'} ${i.name}${i.changes.length ? ` (${i.changes.join('; ')})` : ''}`)
    for (const f of out.failed) process.stderr.write(`berth: ${f.item.name}: ${f.error}\n`)
    const count = (a: string) => out.done.filter(i => i.action === a).length
    this.log(`up: ${count('create')} created, ${count('change')} changed, ${count('remove')} removed`)
    if (out.failed.length) {
      const interrupted = this.abort.signal.aborted
      throw new UserError(`${out.failed.length} machine${out.failed.length === 1 ? '' : 's'} failed: run up again to resume`, interrupted ? 130 : 1)
    }
  }
}
