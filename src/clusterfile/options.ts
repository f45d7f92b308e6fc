/**
 * A machine's driver options as `berth create` would have them: the file's values, references
 * read only now (so `plan` never reads a secret), then each flag's environment variable and default.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {UserError} from '../core/index.js'
import type {DriverFlag} from '../sdk/index.js'
import type {DesiredMachine, OptionValue} from './load.js'

function fromEnv(f: DriverFlag, v: string): unknown {
  switch (f.type) {
    case 'boolean': return /^(1|true|yes)$/i.test(v)
    case 'integer': return Number.parseInt(v, 10)
    case 'strings': return [v]
    default: return v
  }
}

async function resolve(f: DriverFlag, v: OptionValue, file: string, env: NodeJS.ProcessEnv, machine: string): Promise<unknown> {
  if (typeof v !== 'object' || Array.isArray(v)) {
    if (f.type === 'strings') return Array.isArray(v) ? v : [String(v)]
    return f.type === 'string' ? String(v) : v
  }
  if ('env' in v) {
    const got = env[v.env]
    if (got === undefined) throw new UserError(`${machine}: option ${f.name} refers to $${v.env}, which is not set`)
    return fromEnv(f, got)
  }
  const p = path.resolve(path.dirname(file), v.file)
  const text = await fs.readFile(p, 'utf8').catch(err => {
    throw new UserError(`${machine}: option ${f.name} refers to ${p}: ${(err as NodeJS.ErrnoException).code ?? err}`)
  })
  return fromEnv(f, text.split('\n')[0].trim())
}

export async function resolveOptions(m: DesiredMachine, file: string, env: NodeJS.ProcessEnv = process.env): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const f of m.flags) {
    const given = m.options[f.name]
    if (given !== undefined) out[f.name] = await resolve(f, given, file, env, m.name)
    else if (f.env && env[f.env] !== undefined && env[f.env] !== '') out[f.name] = fromEnv(f, env[f.env]!)
    else out[f.name] = f.default
  }
  return out
}
