import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {UserError} from '../src/core/index.js'
import {copyFrom, copyTo} from '../src/ssh/index.js'

const REMOTE = /^([a-zA-Z0-9][a-zA-Z0-9.-]*):(.*)$/

export default class Scp extends BerthCommand<typeof Scp> {
  static override summary = 'Copy files between this machine and a berth machine'
  static override examples = ['<%= config.bin %> scp ./app.conf node1:/etc/app.conf', '<%= config.bin %> scp -r node1:/var/log/app ./logs']
  static override args = {
    source: Args.string({description: '[machine:]path', required: true}),
    destination: Args.string({description: '[machine:]path', required: true}),
  }
  static override flags = {recursive: Flags.boolean({char: 'r', summary: 'Copy folders recursively'})}

  async run(): Promise<void> {
    const src = REMOTE.exec(this.args.source!)
    const dst = REMOTE.exec(this.args.destination!)
    if (src && dst) throw new UserError('copy between two machines through a local folder: scp from one, then to the other')
    if (!src && !dst) throw new UserError('one of source and destination must be machine:path')
    const berth = this.berth()
    const name = (src ?? dst)![1]
    const session = await berth.ssh(await berth.load(name))
    try {
      if (dst) await copyTo(session, this.args.source!, dst[2] || '.', this.flags.recursive)
      else await copyFrom(session, src![2] || '.', this.args.destination!, this.flags.recursive)
    } finally {
      session.close()
    }
  }
}
