import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {UserError} from '../src/core/index.js'
import {table} from '../src/core/index.js'
import {jsonFlag} from '../src/cli/index.js'

export interface PsRow {
  machine: string
  id: string
  name: string
  image: string
  command: string
  created: string
  state: string
  status: string
  ports: string[]
  labels: Record<string, string>
}

function ago(unixSeconds: number, now = Date.now()): string {
  const s = Math.max(0, Math.round(now / 1000 - unixSeconds))
  if (s < 60) return `${s} seconds ago`
  if (s < 3600) return `${Math.round(s / 60)} minutes ago`
  if (s < 86_400) return `${Math.round(s / 3600)} hours ago`
  return `${Math.round(s / 86_400)} days ago`
}

export default class Ps extends BerthCommand<typeof Ps> {
  static override summary = 'List containers across machines, each as MACHINE/NAME'
  static override examples = ['<%= config.bin %> ps --swarm lab3', '<%= config.bin %> ps --machines node1,node2 -a --json']
  static override flags = {
    swarm: Flags.string({summary: 'The machines of this swarm'}),
    machines: Flags.string({summary: 'These machines (comma-separated; default: every machine)'}),
    all: Flags.boolean({char: 'a', summary: 'Show stopped containers too'}),
    ...jsonFlag(),
    timeout: Flags.integer({char: 't', summary: 'Seconds to wait for each engine', default: 5, min: 1}),
  }

  async run(): Promise<void> {
    const [{Cluster, ownNames}, {engineMessage}] = await Promise.all([import('../src/cluster/index.js'), import('../src/engine/index.js')])
    type Summary = import('../src/cluster/index.js').ContainerSummary
    const ctx = this.ctx()
    const f = this.flags
    const cluster = new Cluster(ctx, {swarm: f.swarm, machines: f.machines?.split(',').map(s => s.trim()).filter(Boolean)}, {timeoutMs: f.timeout * 1000})
    try {
      const {results, down} = await cluster.each<Summary[]>(`/containers/json${f.all ? '?all=1' : ''}`)
      for (const d of down) process.stderr.write(`warning: ${d.machine}: engine does not answer: ${d.error}\n`)
      for (const r of results) if (r.res.status >= 400) process.stderr.write(`warning: ${r.machine}: ${engineMessage(r.res)}\n`)
      const ok = results.filter(r => r.res.status < 400)
      if (!ok.length && down.length) throw new UserError(`no engine answers (${down.map(d => d.machine).join(', ')})`)
      const rows: Array<PsRow & {at: number}> = []
      for (const r of ok) {
        for (const c of r.res.body) {
          rows.push({
            machine: r.machine, id: c.Id, name: ownNames(c.Names)[0] ?? '', image: c.Image, command: c.Command ?? '',
            created: new Date(c.Created * 1000).toISOString(), state: c.State, status: c.Status,
            ports: (c.Ports ?? []).filter(p => p.IP !== '::').map(p => (p.PublicPort ? `${p.IP === '0.0.0.0' || !p.IP ? r.conn.host : p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`)),
            labels: {...c.Labels}, at: c.Created,
          })
        }
      }
      rows.sort((a, b) => b.at - a.at || a.machine.localeCompare(b.machine))
      if (f.json) return this.json(rows.map(({at: _at, ...row}) => row))
      this.log(table(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'], rows.map(r => [
        r.id.slice(0, 12), r.image, JSON.stringify(r.command.length > 20 ? `${r.command.slice(0, 19)}…` : r.command), ago(r.at), r.status, r.ports.join(', '), `${r.machine}/${r.name}`,
      ])))
    } finally {
      cluster.close()
    }
  }
}
