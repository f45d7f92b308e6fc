import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {machineErrorLine} from '../src/cli/index.js'

export default class Upgrade extends BerthCommand<typeof Upgrade> {
  static override summary = 'Upgrade the Docker engine of machines to the newest version their package sources offer'
  static override description = 'Upgrades the engine\'s packages (or re-runs the machine\'s --engine-install-url script), restarts the engine and waits for it over mutual TLS, then prints the old and new versions. A stopped machine is started first; one already on the newest packages says so and its engine is left running. The machine\'s --engine-install-proxy, if it has one, is used again.'
  static override strict = false
  static override defaultMachine = true
  static override args = {name: Args.string({description: 'Machine name(s); default: the machine named "default"'})}
  static override examples = ['<%= config.bin %> upgrade node1 node2', '<%= config.bin %> upgrade --json node1']
  static override flags = {json: Flags.boolean({summary: 'Machine-readable output: one object per machine'})}

  async run(): Promise<void> {
    const {UserError} = await import('../src/core/index.js')
    const berth = this.berth()
    const reports = []
    let failed = 0
    for (const name of this.argv as string[]) {
      try {
        reports.push(await berth.upgrade(name))
      } catch (err) {
        if (this.argv.length === 1) throw err
        failed++
        process.stderr.write(`${machineErrorLine(name, err)}\n`)
      }
    }
    if (this.flags.json) this.json(reports)
    else {
      const list = (v: Record<string, string>) => Object.entries(v).map(([p, ver]) => `${p} ${ver}`).join(', ')
      for (const r of reports) {
        const pre = r.started ? ' (started first)' : ''
        this.log(r.changed ? `${r.name}${pre}: upgraded ${list(r.from)} -> ${list(r.to)}; engine ${r.engineFrom ? `${r.engineFrom} -> ` : ''}${r.engine} answering over TLS` : `${r.name}${pre}: already newest (${list(r.from)}); engine ${r.engine} left running`)
      }
    }
    if (failed) throw new UserError(`upgrade failed for ${failed} of ${this.argv.length} machines`)
  }
}
