/**
 * docker-machine's command line before oclif sees it (bin/run.js): its MACHINE_* variables, its
 * global flags written before the command (`docker-machine -s PATH ls`), `help CMD` and `-h`.
 * Kept free of imports so that `ls` and `--help` start as fast as before.
 */

/** BERTH_* wins; a MACHINE_* variable fills in only what is unset. */
const ENV_ALIASES: Array<[string, string]> = [
  ['MACHINE_STORAGE_PATH', 'BERTH_STORAGE_PATH'],
  ['MACHINE_DRIVER', 'BERTH_DRIVER'],
  ['MACHINE_DEBUG', 'BERTH_DEBUG'],
  ['MACHINE_DOCKER_INSTALL_URL', 'BERTH_ENGINE_INSTALL_URL'],
  ['ENGINE_REGISTRY_MIRROR', 'BERTH_ENGINE_REGISTRY_MIRROR'],
  ['MACHINE_TLS_CA_CERT', 'BERTH_TLS_CA_CERT'],
  ['MACHINE_TLS_CA_KEY', 'BERTH_TLS_CA_KEY'],
  ['MACHINE_TLS_CLIENT_CERT', 'BERTH_TLS_CLIENT_CERT'],
  ['MACHINE_TLS_CLIENT_KEY', 'BERTH_TLS_CLIENT_KEY'],
]

/** Global flags of docker-machine that take a value, and the variable each one sets here. */
const GLOBAL_VALUE: Record<string, string> = {
  '-s': 'BERTH_STORAGE_PATH', '--storage-path': 'BERTH_STORAGE_PATH',
  '--tls-ca-cert': 'BERTH_TLS_CA_CERT', '--tls-ca-key': 'BERTH_TLS_CA_KEY',
  '--tls-client-cert': 'BERTH_TLS_CLIENT_CERT', '--tls-client-key': 'BERTH_TLS_CLIENT_KEY',
}
/** Global flags that mean nothing to berth: accepted so that scripts keep running, with a note. */
const GLOBAL_IGNORED: Record<string, string> = {
  '--native-ssh': 'berth always uses its built-in SSH client',
  '--github-api-token': 'berth never calls the GitHub API',
  '--bugsnag-api-token': 'berth sends no crash reports',
}
const IGNORED_TAKES_VALUE = new Set(['--github-api-token', '--bugsnag-api-token'])

const PASS_THROUGH = new Set(['ssh', 'run', 'scp'])

export interface Prepared {
  argv: string[]
  notes: string[]
}

/** Rewrite argv (without node and the script) and fill env in place; returns the notes to print. */
export function prepareArgv(args: string[], env: NodeJS.ProcessEnv): Prepared {
  for (const [from, to] of ENV_ALIASES) {
    if (!env[to] && env[from]) env[to] = env[from]
  }
  const notes: string[] = []
  let i = 0
  for (; i < args.length; i++) {
    const a = args[i]!
    if (!a.startsWith('-') || a === '-' || a === '--') break
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    if (flag === '-D' || flag === '--debug') {
      env.BERTH_DEBUG = '1'
    } else if (GLOBAL_VALUE[flag]) {
      const value = inline ?? args[++i]
      if (value === undefined) break // let oclif say what is missing
      env[GLOBAL_VALUE[flag]] = value
    } else if (GLOBAL_IGNORED[flag]) {
      if (IGNORED_TAKES_VALUE.has(flag) && inline === undefined) i++
      notes.push(`${flag} is ignored: ${GLOBAL_IGNORED[flag]}`)
    } else if (flag === '-h' || flag === '--help' || flag === '-v' || flag === '--version') {
      // `berth -h`, `berth -v`: oclif's own --help and --version.
      return {argv: [flag.startsWith('-h') || flag === '--help' ? '--help' : '--version'], notes}
    } else {
      break
    }
  }
  let rest = args.slice(i)
  // `help [COMMAND...]` is `COMMAND... --help`.
  if (rest[0] === 'help') rest = rest.length > 1 ? [...rest.slice(1), '--help'] : ['--help']
  // -h is help, up to a `--`; not where it belongs to a remote command (`ssh n1 df -h`, `run -h NAME`).
  if (!PASS_THROUGH.has(rest[0] ?? '')) {
    const end = rest.indexOf('--')
    rest = rest.map((a, j) => (a === '-h' && (end < 0 || j < end) ? '--help' : a))
  }
  return {argv: rest, notes}
}
