import path from 'node:path'
import {UserError} from '../core/index.js'
import type {Berth} from '../machine/index.js'
import type {MachineRecord} from '../store/index.js'

/** The name berth was run by: "docker-machine" through the compatibility symlink, else berth. */
export function binName(): string {
  const base = path.basename(process.argv[1] ?? 'berth')
  return base === 'run.js' || base === 'run' ? 'berth' : base
}

/** The command line as typed, for env's usage hint (docker-machine prints os.Args). */
export function typedCommandLine(): string {
  return [binName(), ...process.argv.slice(2)].join(' ')
}

/**
 * env, url, config, version NAME need a running host. docker-machine's words, which scripts
 * and its own tests grep for: "Host is not running", "... not running. Please start ...".
 */
export async function requireRunning(berth: Berth, record: MachineRecord): Promise<void> {
  const st = await berth.state(record)
  if (st.state === 'Running') return
  throw new UserError(`Host is not running. Please start it in order to use the connection settings: ${binName()} start ${record.name} (state: ${st.state}${st.error ? `, ${st.error}` : ''})`, 'not_running')
}
