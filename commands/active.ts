import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {UserError} from '../src/core/index.js'
import {activeDockerHost} from '../src/machine/index.js'
import {jsonFlag} from '../src/cli/index.js'

export default class Active extends BerthCommand<typeof Active> {
  static override summary = 'Print the machine the docker CLI points at'
  static override description = 'As the docker CLI decides: DOCKER_HOST, else DOCKER_CONTEXT, else the current context of ~/.docker/config.json (`docker context use berth-NAME`).'
  static override examples = ['<%= config.bin %> active', 'eval $(<%= config.bin %> env node1) && <%= config.bin %> active', 'DOCKER_CONTEXT=berth-node1 <%= config.bin %> active']
  static override flags = {
    ...jsonFlag(),
    timeout: Flags.integer({char: 't', summary: 'Seconds to wait for each engine', default: 10, min: 1}),
  }

  async run(): Promise<void> {
    const url = await activeDockerHost()
    if (!url) throw new UserError('No active host found (neither DOCKER_HOST nor a docker context points at one)')
    const rows = await this.berth().list({timeoutMs: this.flags.timeout * 1000})
    const active = rows.find(r => r.active)
    if (!active) throw new UserError(`No active host found: no berth machine is at ${url}`)
    if (this.flags.json) return this.json({name: active.name, url: active.url})
    this.log(active.name)
  }
}
