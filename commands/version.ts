import * as Args from '@oclif/core/args'
import {BerthCommand} from './_command.js'
import {jsonFlag, requireRunning} from '../src/cli/index.js'

export default class Version extends BerthCommand<typeof Version> {
  static override summary = 'Print berth\'s version, or the Docker version of a machine'
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> version node1', '<%= config.bin %> version --json node1']
  static override args = {name: Args.string({description: 'Machine name'})}
  static override flags = jsonFlag()

  async run(): Promise<void> {
    if (!this.args.name) {
      const v = {berth: this.config.version, node: process.version}
      if (this.flags.json) return this.json(v)
      this.log(`berth version ${v.berth} (node ${v.node})`)
      return
    }
    const berth = this.berth()
    const record = await berth.load(this.args.name)
    await requireRunning(berth, record)
    const engine = await berth.engine(record)
    try {
      const v = await engine.version()
      if (this.flags.json) return this.json(v)
      this.log(v.Version)
    } finally {
      engine.close()
    }
  }
}
