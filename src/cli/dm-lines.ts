/**
 * The error line a failed command prints. As berth: `berth: MESSAGE`. Run through a
 * `docker-machine` symlink, docker-machine's own line instead: it prints the bare error
 * (libmachine's log.Fatal, no program prefix), and scripts and its integration tests compare
 * those lines whole (`[[ ${lines[0]} == "Docker machine \"x\" already exists" ]]`), so the words
 * below are docker-machine 0.16's where berth's say the same thing in others.
 */
import {errorMessage, type ErrorCode, UserError} from '../core/index.js'
import {binName} from './running.js'

type Rewrite = [RegExp, (m: RegExpExecArray, message: string) => string]

const DM_REWRITES: Rewrite[] = [
  // libmachine's ErrHostDoesNotExist, hint included.
  [/^Docker machine "([^"]*)" does not exist$/, m => `Docker machine "${m[1]}" does not exist. Use "docker-machine ls" to list machines. Use "docker-machine create" to add a new one.`],
  // create's name check (mcnerror.ErrInvalidHostname, wrapped by cmdCreate).
  [/^invalid machine name /, () => 'Error creating machine: Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -'],
  // localbinary's ErrPluginBinaryNotFound: berth has no plugin binaries, but the line is the one scripts know.
  [/^unknown driver "([^"]*)"/, m => `Driver "${m[1]}" not found. Do you have the plugin binary "docker-machine-driver-${m[1]}" accessible in your PATH?`],
  // oclif's missing argument, where docker-machine names the machine it would have used.
  [/^Missing 1 required arg: name Machine name/, () => 'Error: No machine name(s) specified and no "default" machine exists.'],
  [/^No machine name\(s\) specified and no "default" machine exists\.$/, (m, message) => `Error: ${message}`],
]

/** True when berth runs as docker-machine (argv[1] is the symlink's name). */
export const asDockerMachine = (): boolean => binName() === 'docker-machine'

/** The whole line (no newline) for an error of `code` saying `message`. */
export function errorLine(message: string, code?: ErrorCode, dm = asDockerMachine()): string {
  if (!dm) return `berth: ${message}`
  // mcnerror.ErrDuringPreCreate: `Error with pre-create check: %q` (Go's %q: a JSON string for plain text).
  if (code === 'precreate') return `Error with pre-create check: ${JSON.stringify(message)}`
  for (const [re, line] of DM_REWRITES) {
    const m = re.exec(message)
    if (m) return line(m, message)
  }
  return message
}

/**
 * One machine's failure among several: `berth: NAME: MESSAGE`; as docker-machine, its line for
 * the error, in `wrap` where docker-machine's command wraps it (rm: `Error removing host "x": ...`).
 */
export function machineErrorLine(name: string, err: unknown, wrap: (line: string) => string = l => l): string {
  const message = errorMessage(err)
  if (!asDockerMachine()) return `berth: ${name}: ${message}`
  return wrap(errorLine(message, err instanceof UserError ? err.code : undefined, true))
}
