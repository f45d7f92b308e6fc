import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {PASSPHRASE_ENV, readPassphrase} from '../src/cli/index.js'
import {UserError} from '../src/core/index.js'
import {BerthCommand} from './_command.js'

export default class Export extends BerthCommand<typeof Export> {
  static override summary = 'Write a machine, its SSH key and certificates to standard output, encrypted with a passphrase'
  static override description = `For "berth import FILE" in another store. The passphrase comes from standard input (--passphrase-stdin), else ${PASSPHRASE_ENV}, else it is asked twice on the terminal; it is never an argument. scrypt and AES-256-GCM: a wrong passphrase or a changed file is refused on import. The CA key stays behind unless --with-ca-key; so do files over 4 MiB (VM disks), which are named.`
  static override examples = [
    '<%= config.bin %> export node1 > node1.berth',
    'pass show berth/node1 | <%= config.bin %> export node1 --passphrase-stdin > node1.berth',
  ]
  static override args = {name: Args.string({description: 'Machine name', required: true})}
  static override flags = {
    'passphrase-stdin': Flags.boolean({summary: 'Read the passphrase from standard input'}),
    'with-ca-key': Flags.boolean({summary: 'Also carry the machine\'s CA key, so the other store can re-issue its server certificate'}),
  }

  async run(): Promise<void> {
    if (process.stdout.isTTY) throw new UserError('not writing the export to a terminal: redirect it (berth export NAME > FILE)', 'usage')
    const berth = this.berth()
    await berth.load(this.args.name!) // a clear "does not exist" before asking for a passphrase
    const passphrase = await readPassphrase({stdin: this.flags['passphrase-stdin'], confirm: true})
    const {exportMachine} = await import('../src/transfer/index.js')
    const {bundle, left} = await exportMachine(berth.ctx, this.args.name!, passphrase, {withCaKey: this.flags['with-ca-key']})
    for (const l of left) process.stderr.write(`not exported: ${l}\n`)
    process.stdout.write(bundle)
  }
}
