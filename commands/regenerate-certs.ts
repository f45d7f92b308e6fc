import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {confirm, machineErrorLine} from '../src/cli/index.js'
import {BerthCommand} from './_command.js'
import {UserError} from '../src/core/index.js'
import {parallel} from '../src/core/index.js'
import {refreshDockerContext} from '../src/machine/index.js'

export default class RegenerateCerts extends BerthCommand<typeof RegenerateCerts> {
  static override summary = 'Issue new TLS certificates for machines and restart their engines'
  static override description = 'Use after a machine\'s IP changed. With --client-certs the store\'s CA and client certificate are made anew too: every other machine then needs regenerate-certs as well.'
  static override examples = ['<%= config.bin %> regenerate-certs -f node1', '<%= config.bin %> regenerate-certs -f --client-certs node1 node2']
  static override strict = false
  static override defaultMachine = true
  static override args = {name: Args.string({description: 'Machine name(s); default: the machine named "default"'})}
  static override flags = {
    force: Flags.boolean({char: 'f', summary: 'Do not ask for confirmation'}),
    'client-certs': Flags.boolean({summary: 'Also make a new CA and client certificate'}),
  }

  async run(): Promise<void> {
    const names = this.argv
    if (!this.flags.force && !await confirm(`Regenerate TLS certificates for ${names.join(', ')} and restart their engines?`)) {
      throw new UserError('not confirmed: pass -f to regenerate without asking')
    }
    const berth = this.berth()
    const clientCerts = this.flags['client-certs']
    // A new CA must be made once, before the machines are re-issued in parallel.
    const first = await parallel(names.slice(0, 1), 1, n => berth.regenerateCerts(n, {clientCerts}))
    const rest = await parallel(names.slice(1), 8, n => berth.regenerateCerts(n))
    const all = [...first, ...rest]
    all.forEach((r, i) => {
      if (r.status === 'rejected') process.stderr.write(`${machineErrorLine(names[i]!, r.reason)}\n`)
    })
    // A docker context of the machine (env --docker-context) keeps its own copy of the client files.
    for (const [i, r] of all.entries()) if (r.status === 'fulfilled') await refreshDockerContext(`berth-${names[i]}`, berth.store.machineDir(names[i]!))
    if (all.some(r => r.status === 'rejected')) throw new UserError('regenerate-certs failed')
  }
}
