import path from 'node:path'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {table} from '../src/core/index.js'
import type {MachineRow} from '../src/machine/index.js'
import {UserError} from '../src/core/index.js'
import {jsonFlag} from '../src/cli/index.js'

export default class Ls extends BerthCommand<typeof Ls> {
  static override summary = 'List machines'
  static override description = 'Sorted naturally (node2 before node10). Filters are docker-machine\'s: a key given twice matches either value, different keys must all match; name= is a regular expression, the others compare without case. --format is a Go template over docker-machine\'s fields: .Name .Active .ActiveHost .ActiveSwarm .DriverName .State .URL .Swarm .SwarmOptions .EngineOptions .Error .DockerVersion .ResponseTime; "table" before it prints headers and aligns the columns.'
  static override examples = [
    '<%= config.bin %> ls',
    '<%= config.bin %> ls --filter state=Running -q',
    '<%= config.bin %> ls --filter driver=lab --filter name=^web',
    '<%= config.bin %> ls --filter label=tier=front --filter swarm=lab3',
    '<%= config.bin %> ls -f "{{.Name}} {{.URL}}"',
    '<%= config.bin %> ls --format "table {{.Name}}\\t{{.State}}\\t{{.DockerVersion}}"',
    '<%= config.bin %> ls --json',
  ]
  static override flags = {
    filter: Flags.string({summary: 'Filter key=value: name (a regular expression), driver, state, swarm, label=KEY=VALUE (repeatable)', multiple: true, multipleNonGreedy: true}),
    format: Flags.string({char: 'f', summary: 'Go template for each machine ("table ..." adds headers), as docker-machine ls --format'}),
    quiet: Flags.boolean({char: 'q', summary: 'Names only'}),
    ...jsonFlag(),
    timeout: Flags.integer({char: 't', summary: 'Seconds to wait for each engine', default: 10, min: 1}),
  }

  async run(): Promise<void> {
    const filters = parseFilters(this.flags.filter ?? [])
    const render = this.flags.format ? await import('../src/format/index.js') : undefined
    let rows = await this.berth().list({timeoutMs: this.flags.timeout * 1000})
    rows = rows.filter(r => [...filters].every(([k, vs]) => vs.some(v => matches(r, k, v))))
    if (this.flags.json) return this.json(rows)
    if (this.flags.quiet) {
      for (const r of rows) this.log(r.name)
      return
    }
    if (render) {
      process.stdout.write(render.renderFormat(this.flags.format!, rows.map(render.lsItem), render.LS_HEADERS))
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

const KEYS = ['name', 'driver', 'state', 'swarm', 'label']

function parseFilters(list: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const f of list) {
    const eq = f.indexOf('=')
    if (eq < 0) throw new UserError(`Unsupported filter syntax "${f}": use key=value (${KEYS.join(', ')})`, 'usage')
    const key = f.slice(0, eq).toLowerCase()
    const value = f.slice(eq + 1)
    if (!KEYS.includes(key)) throw new UserError(`Unsupported filter key '${key}': use ${KEYS.join(', ')}`, 'usage')
    if (key === 'name') {
      try {
        new RegExp(value)
      } catch {
        throw new UserError(`bad --filter name=${value}: not a regular expression`, 'usage')
      }
    }
    if (key === 'label' && !value.includes('=')) throw new UserError(`bad --filter label=${value}: use label=KEY=VALUE`, 'usage')
    out.set(key, [...(out.get(key) ?? []), value])
  }
  return out
}

function matches(r: MachineRow, key: string, value: string): boolean {
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
  switch (key) {
    case 'name': return new RegExp(value).test(r.name)
    case 'swarm': return same(r.swarm.replace(/ \(manager\)$/, ''), value)
    case 'label': {
      const [k, ...rest] = value.split('=')
      return r.labels.some(l => l.split('=')[0] === k && same(l.slice(k!.length + 1), rest.join('=')))
    }
    default: return same(String(r[key as 'driver' | 'state']), value)
  }
}
