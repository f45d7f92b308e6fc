import * as Args from '@oclif/core/args'
import {BerthCommand} from '../_command.js'
import {table, UserError} from '../../src/core/index.js'
import {jsonFlag} from '../../src/cli/index.js'

export default class SwarmDoctor extends BerthCommand<typeof SwarmDoctor> {
  static override summary = 'Probe 2377/tcp, 7946/tcp+udp and 4789/udp between every pair of a swarm\'s members: NAT and blocked paths named, with what to do'
  static override description = 'Each member listens (a raw socket, so ports held by dockerd or the kernel\'s VXLAN are seen too) while every other one sends to it over its own SSH session. Exits 1 when a path is blocked.'
  static override examples = ['<%= config.bin %> swarm doctor lab3', '<%= config.bin %> swarm doctor lab3 --json']
  static override args = {swarm: Args.string({description: 'Swarm name', required: true})}
  static override flags = jsonFlag()

  async run(): Promise<void> {
    const r = await this.berth().swarm.doctor(this.args.swarm!)
    const blocked = r.paths.filter(p => !p.ok)
    if (this.flags.json) this.json(r)
    else if (!r.paths.length) this.log(`swarm ${r.swarm} has one member: no path to probe`)
    else {
      const ports = [...new Set(r.paths.map(p => `${p.port}/${p.proto}`))]
      const pairs = [...new Set(r.paths.map(p => `${p.from} ${p.to}`))]
      this.log(table(['FROM', 'TO', 'ADDRESS', ...ports.map(p => p.toUpperCase())], pairs.map(pair => {
        const ps = r.paths.filter(p => `${p.from} ${p.to}` === pair)
        return [ps[0].from, ps[0].to, ps[0].address, ...ports.map(port => (ps.find(p => `${p.port}/${p.proto}` === port)?.ok ? 'ok' : 'BLOCKED'))]
      })))
      for (const m of r.members) {
        if (m.nat) this.log(`NAT: ${m.name} sees itself as ${m.address}, the others see it as ${m.nat}`)
        if (m.error) this.log(`${m.name}: ${m.error}`)
      }
      const said = new Set<string>()
      for (const p of blocked) {
        const line = `${p.from} -> ${p.to}: ${p.reason}; do: ${p.fix}`
        if (said.has(line)) continue
        said.add(line)
        this.log(`blocked ${r.paths.filter(q => !q.ok && q.from === p.from && q.to === p.to && q.reason === p.reason).map(q => `${q.port}/${q.proto}`).join(', ')} ${line}`)
      }
    }
    if (blocked.length) throw new UserError(`swarm ${r.swarm}: ${blocked.length} of ${r.paths.length} paths blocked`)
  }
}
