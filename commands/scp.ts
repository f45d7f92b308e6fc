import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {UserError} from '../src/core/index.js'
import {copyFrom, copyTo} from '../src/ssh/index.js'

const REMOTE = /^([a-zA-Z0-9][a-zA-Z0-9.-]*):(.*)$/

export default class Scp extends BerthCommand<typeof Scp> {
  static override summary = 'Copy files between this machine and berth machines, or from one machine to another'
  static override examples = ['<%= config.bin %> scp ./app.conf node1:/etc/app.conf', '<%= config.bin %> scp -r node1:/var/log/app ./logs', '<%= config.bin %> scp node1:/tmp/foo.txt node2:/tmp/foo.txt']
  static override args = {
    source: Args.string({description: '[machine:]path', required: true}),
    destination: Args.string({description: '[machine:]path', required: true}),
  }
  static override flags = {recursive: Flags.boolean({char: 'r', summary: 'Copy folders recursively'})}

  async run(): Promise<void> {
    const src = REMOTE.exec(this.args.source!)
    const dst = REMOTE.exec(this.args.destination!)
    if (!src && !dst) throw new UserError('one of source and destination must be machine:path', 'usage')
    const berth = this.berth()
    const over = async (name: string, fn: (s: Awaited<ReturnType<typeof berth.ssh>>) => Promise<void>) => {
      const session = await berth.ssh(await berth.load(name))
      try {
        await fn(session)
      } finally {
        session.close()
      }
    }
    if (src && dst) {
      // Machine to machine, as docker-machine scp does: through a private local folder, removed after.
      const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-scp-'))
      try {
        const local = path.join(tmp, path.posix.basename(src[2] || 'copy') || 'copy')
        await over(src[1]!, s => copyFrom(s, src[2] || '.', local, this.flags.recursive))
        await over(dst[1]!, s => copyTo(s, local, dst[2] || '.', this.flags.recursive))
      } finally {
        await fs.rm(tmp, {recursive: true, force: true})
      }
      return
    }
    if (dst) await over(dst[1]!, s => copyTo(s, this.args.source!, dst[2] || '.', this.flags.recursive))
    else await over(src![1]!, s => copyFrom(s, src![2] || '.', this.args.destination!, this.flags.recursive))
  }
}
