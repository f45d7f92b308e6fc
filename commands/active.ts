import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {UserError} from '../src/core/index.js'

export default class Active extends BerthCommand<typeof Active> {
  static override summary = 'Print the machine DOCKER_HOST points at'
  static override flags = {
    json: Flags.boolean({summary: 'Machine-readable output'}),
    timeout: Flags.integer({char: 't', summary: 'Seconds to wait for each engine', default: 10, min: 1}),
  }

  async run(): Promise<void> {
    if (!process.env.DOCKER_HOST) throw new UserError('no active host: DOCKER_HOST is not set')
    const rows = await this.berth().list({timeoutMs: this.flags.timeout * 1000})
    const active = rows.find(r => r.active)
    if (!active) throw new UserError(`no berth machine is at DOCKER_HOST=${process.env.DOCKER_HOST}`)
    if (this.flags.json) return this.json({name: active.name, url: active.url})
    this.log(active.name)
  }
}
