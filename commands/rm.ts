import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {asDockerMachine, confirm, machineErrorLine} from '../src/cli/index.js'
import {BerthCommand} from './_command.js'
import {errorMessage, UserError} from '../src/core/index.js'
import {removeDockerContext} from '../src/machine/index.js'

export default class Rm extends BerthCommand<typeof Rm> {
  static override summary = 'Remove machines and everything berth made for them'
  static override description = 'Removes the host and its cloud resources, then the record. With -f the record goes even when something could not be removed (it is named).'
  static override strict = false
  static override args = {name: Args.string({description: 'Machine name(s)', required: true})}
  static override examples = ['<%= config.bin %> rm -y node1', '<%= config.bin %> rm -f broken-node']
  static override flags = {
    force: Flags.boolean({char: 'f', summary: 'Remove the record even if the host cannot be removed (implies -y)'}),
    yes: Flags.boolean({char: 'y', summary: 'Do not ask for confirmation'}),
    deprovision: Flags.boolean({summary: 'First stop the engine and remove what berth wrote on the host (for hosts rm otherwise leaves as they are, e.g. generic)'}),
    'remove-host': Flags.boolean({summary: 'For an imported machine (berth import), which rm otherwise only forgets: also leave its swarm and delete its host as for a machine berth created'}),
  }

  async run(): Promise<void> {
    const names = this.argv
    if (!this.flags.yes && !this.flags.force && !await confirm(`About to remove ${names.join(', ')}. Are you sure?`)) {
      throw new UserError('not confirmed: pass -y to remove without asking')
    }
    const berth = this.berth()
    // Workers in parallel, then each swarm's managers one at a time: no swarm loses its quorum.
    const results = await berth.rmAll(names, {force: this.flags.force, deprovision: this.flags.deprovision, removeHost: this.flags['remove-host']})
    const dm = asDockerMachine()
    // docker-machine wraps each failure (`Error removing host "x": ...`), one machine or many.
    if (names.length === 1 && results[0].status === 'rejected' && !dm) throw results[0].reason
    let bad = 0
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        bad++
        process.stderr.write(`${machineErrorLine(names[i]!, r.reason, l => `Error removing host "${names[i]}": ${l}`)}\n`)
      } else if (r.value.length) {
        bad++
        process.stderr.write(`berth: ${names[i]}: could not remove: ${r.value.join('; ')}${this.flags.force ? ' (record removed anyway)' : ''}\n`)
      } else {
        this.log(`Successfully removed ${names[i]}`)
      }
    })
    // The docker context `env --docker-context` wrote would point at a host that is gone.
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled' && !r.value.length) await removeDockerContext(`berth-${names[i]}`).catch(err => process.stderr.write(`warning: docker context berth-${names[i]} left behind: ${errorMessage(err)}\n`))
    }
    if (bad && dm) process.exitCode = 1
    else if (bad) throw new UserError(`rm failed for ${bad} of ${names.length} machines`)
  }
}
