import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {registry} from '../drivers/flags.js'
import {confirm} from '../src/cli/index.js'
import {UserError} from '../src/core/index.js'
import {down, downPlan, loadClusterFile} from '../src/clusterfile/index.js'

export default class Down extends BerthCommand<typeof Down> {
  static override summary = 'Remove the machines made from a cluster file: workers first, managers last'
  static override description = 'Machines the file did not make (same name or not) are never touched.'
  static override examples = ['<%= config.bin %> down -f cluster.yml -y']
  static override flags = {
    file: Flags.string({char: 'f', summary: 'Cluster file (YAML)', required: true}),
    yes: Flags.boolean({char: 'y', summary: 'Do not ask for confirmation'}),
    force: Flags.boolean({summary: 'Remove the records even of hosts that cannot be removed'}),
    parallel: Flags.integer({summary: 'How many workers to remove at once', default: 8, min: 1}),
  }

  async run(): Promise<void> {
    const spec = await loadClusterFile(this.flags.file, registry)
    const ctx = this.ctx()
    const {remove} = await downPlan(ctx, spec)
    if (!remove.length) {
      this.log(`no machines from ${this.flags.file}`)
      return
    }
    if (!this.flags.yes && !await confirm(`About to remove ${remove.map(i => i.name).join(', ')}. Are you sure?`)) {
      throw new UserError('not confirmed: pass -y to remove without asking')
    }
    const out = await down(ctx, spec, {parallel: this.flags.parallel, force: this.flags.force})
    for (const i of out.done) this.log(`removed ${i.name}`)
    for (const n of out.untouched) process.stderr.write(`note: ${n} was not made from this file: left alone\n`)
    for (const f of out.failed) process.stderr.write(`berth: ${f.item.name}: ${f.error}\n`)
    if (out.failed.length) throw new UserError(`down failed for ${out.failed.length} of ${remove.length} machines`)
  }
}
