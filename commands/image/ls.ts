import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'
import {scaleBytes, table, UserError} from '../../src/core/index.js'
import {jsonFlag} from '../../src/cli/index.js'

export default class ImageLs extends BerthCommand<typeof ImageLs> {
  static override summary = 'List the images of a swarm\'s machines: which machine has which image'
  static override examples = ['<%= config.bin %> image ls --swarm lab3', '<%= config.bin %> image ls --swarm lab3 --json']
  static override flags = {
    swarm: Flags.string({summary: 'Swarm whose members to read', required: true}),
    ...jsonFlag(),
  }

  async run(): Promise<void> {
    const berth = this.berth()
    const members = (await berth.swarm.members(this.flags.swarm)).filter(m => m.status === 'ready')
    if (!members.length) throw new UserError(`swarm "${this.flags.swarm}" has no ready members`, 'not_found')
    const {listImages} = await import('../../src/images/index.js')
    const {rows, errors} = await listImages(berth.ctx, members)
    for (const e of errors) process.stderr.write(`warning: ${e}\n`)
    if (this.flags.json) return this.json(rows)
    this.log(table(['IMAGE', 'ID', 'SIZE', 'MACHINES'], rows.map(r => {
      const [v, u] = scaleBytes(r.size)
      return [r.tags.join(',') || '<none>', r.id.replace(/^sha256:/, '').slice(0, 12), `${v.toFixed(1)} ${u}`, r.machines.join(',')]
    })))
  }
}
