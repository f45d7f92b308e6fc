import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'
import {table} from '../../src/core/index.js'
import {parallel} from '../../src/core/index.js'
import {jsonFlag} from '../../src/cli/index.js'

export default class SwarmLs extends BerthCommand<typeof SwarmLs> {
  static override summary = 'List swarms and classic groups: mode, managers, workers, leader, reachability, engine versions'
  static override examples = ['<%= config.bin %> swarm ls', '<%= config.bin %> swarm ls --json']
  static override flags = {
    ...jsonFlag(),
    timeout: Flags.integer({char: 't', summary: 'Seconds to wait for each manager', default: 5, min: 1}),
  }

  async run(): Promise<void> {
    const {swarm} = this.berth()
    const names = await swarm.names()
    const res = await parallel(names, 8, n => swarm.describe(n, this.flags.timeout * 1000))
    const swarms = res.flatMap(r => (r.status === 'fulfilled' ? [r.value] : []))
    if (this.flags.json) return this.json(swarms)
    // A classic group's MANAGERS are its heads (docker-machine's --swarm-master); it has no leader.
    this.log(table(['SWARM', 'MODE', 'MANAGERS', 'WORKERS', 'LEADER', 'REACHABLE', 'ENGINES'], swarms.map(s => [
      s.name, s.mode, s.managers.join(','), s.workers.join(','), s.leader || '-', s.reachable ? `yes (via ${s.via})` : 'no',
      [...new Set(s.nodes.map(n => n.engine))].join(','),
    ])))
    for (const s of swarms) if (s.advice) process.stderr.write(`warning: swarm ${s.name}: ${s.advice}\n`)
  }
}
