import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {registry} from '../drivers/flags.js'
import {loadClusterFile, planFor, planHeader, planTable, summarise} from '../src/clusterfile/index.js'

export default class Plan extends BerthCommand<typeof Plan> {
  static override summary = 'Show what `berth up -f FILE` would create, keep, change and remove'
  static override description = 'Reads the store only (no cloud call, no secret). Exit status as terraform plan -detailed-exitcode: 0 nothing would change, 2 something would, 1 an error (a bad file names file:line:column and the key).'
  static override examples = [
    '<%= config.bin %> plan -f cluster.yml',
    '<%= config.bin %> plan -f cluster.yml --json',
  ]
  static override flags = {
    file: Flags.string({char: 'f', summary: 'Cluster file (YAML)', required: true}),
    json: Flags.boolean({summary: 'Machine-readable output'}),
  }

  async run(): Promise<void> {
    const spec = await loadClusterFile(this.flags.file, registry)
    const plan = await planFor(this.ctx(), spec)
    if (this.flags.json) this.json(plan)
    else {
      const header = planHeader(plan)
      if (header) this.log(header)
      if (plan.items.length) this.log(planTable(plan))
      for (const c of plan.conflicts) this.log(`conflict: ${c}`)
      for (const r of plan.risks) this.log(`needs --force: ${r}`)
      this.log(summarise(plan))
    }
    if (plan.conflicts.length) process.exitCode = 1
    else if (plan.changed) process.exitCode = 2
  }
}
