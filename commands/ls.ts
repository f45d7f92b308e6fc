import path from 'node:path'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {table} from '../src/core/index.js'
import type {MachineRow} from '../src/machine/index.js'
import {UserError} from '../src/core/index.js'

export default class Ls extends BerthCommand<typeof Ls> {
  static override summary = 'List machines'
  static override examples = [
    '<%= config.bin %> ls',
    '<%= config.bin %> ls --filter state=Running -q',
    '<%= config.bin %> ls --json',
  ]
  static override flags = {
    filter: Flags.string({char: 'f', summary: 'Filter key=value: name, driver, state, swarm, label (repeatable)', multiple: true, multipleNonGreedy: true}),
    quiet: Flags.boolean({char: 'q', summary: 'Names only'}),
    json: Flags.boolean({summary: 'Machine-readable output'}),
    timeout: Flags.integer({char: 't', summary: 'Seconds to wait for each engine', default: 10, min: 1}),
  }

  async run(): Promise<void> {
    const filters = (this.flags.filter ?? []).map(f => {
      const m = /^(name|driver|state|swarm)=(.*)$/.exec(f)
      if (!m) throw new UserError(`bad --filter "${f}": use name=, driver=, state= or swarm=`)
      return [m[1], m[2]] as const
    })
    let rows = await this.berth().list({timeoutMs: this.flags.timeout * 1000})
    rows = rows.filter(r => filters.every(([k, v]) => matches(r, k, v)))
    if (this.flags.json) return this.json(rows)
    if (this.flags.quiet) {
      for (const r of rows) this.log(r.name)
      return
    }
    // The ORIGIN column appears only when some machine came from a cluster file: other lists stay as they were.
    const origin = rows.some(r => r.origin)
    const registry = rows.some(r => r.registry)
    const headers = ['NAME', 'ACTIVE', 'DRIVER', 'STATE', 'URL', 'SWARM', 'DOCKER', ...(origin ? ['ORIGIN'] : []), ...(registry ? ['REGISTRY'] : []), 'ERRORS']
    this.log(table(headers, rows.map(r => [r.name, r.active ? '*' : '-', r.driver, r.state, r.url, r.swarm, r.docker,
      ...(origin ? [r.origin ? `${path.basename(r.origin.file)}#${r.origin.group}` : '-'] : []), ...(registry ? [r.registry ?? '-'] : []), r.error])))
  }
}

function matches(r: MachineRow, key: string, value: string): boolean {
  const field = key === 'swarm' ? r.swarm.replace(/ \(manager\)$/, '') : String(r[key as keyof MachineRow])
  if (value.includes('*')) return new RegExp('^' + value.split('*').map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 'i').test(field)
  return field.toLowerCase() === value.toLowerCase()
}
