import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {UserError} from '../core/index.js'
import {mkdirPrivate, writeFileAtomic} from '../core/index.js'

export const SHELLS = ['bash', 'zsh', 'sh', 'fish', 'powershell', 'cmd', 'tcsh', 'emacs'] as const
export type Shell = (typeof SHELLS)[number]

export function detectShell(): Shell {
  if (process.platform === 'win32') return process.env.PSModulePath ? 'powershell' : 'cmd'
  const base = path.basename(process.env.SHELL ?? 'bash')
  if (base === 'csh' || base === 'tcsh') return 'tcsh'
  return (SHELLS as readonly string[]).includes(base) ? (base as Shell) : 'bash'
}

/**
 * Lines that set (value) or unset (null) variables, as docker-machine prints them (its env.go
 * templates: values quoted as they are, no trailing `;` in sh-like shells), then its usage hint.
 * Unquoted `eval $(...)` joins the lines into one, which still works when every line is an
 * export (or every one an unset); a mix (berth's --docker-context) ends each line with `;`.
 */
export function shellLines(shell: Shell, vars: Array<[string, string | null]>, commandLine: string): string {
  const mixed = vars.some(([, v]) => v === null) && vars.some(([, v]) => v !== null)
  const sh = mixed ? ';' : ''
  const lines = vars.map(([k, v]) => {
    switch (shell) {
      case 'fish': return v === null ? `set -e ${k};` : `set -gx ${k} "${v}";`
      case 'powershell': return v === null ? `Remove-Item Env:\\\\${k}` : `$Env:${k} = "${v}"`
      case 'cmd': return `SET ${k}=${v ?? ''}`
      case 'tcsh': return v === null ? `unsetenv ${k};` : `setenv ${k} "${v}";`
      case 'emacs': return v === null ? `(setenv "${k}" nil)` : `(setenv "${k}" "${v}")`
      default: return v === null ? `unset ${k}${sh}` : `export ${k}="${v}"${sh}`
    }
  })
  const comment = shell === 'cmd' ? 'REM' : shell === 'emacs' ? ';;' : shell === 'tcsh' ? ':' : '#'
  const hint = shell === 'fish' ? `eval (${commandLine})`
    : shell === 'powershell' ? `& ${commandLine} | Invoke-Expression`
      : shell === 'cmd' ? `\t@FOR /f "tokens=*" %i IN ('${commandLine}') DO @%i`
        : shell === 'emacs' ? `(with-temp-buffer (shell-command "${commandLine}" (current-buffer)) (eval-buffer))`
          : shell === 'tcsh' ? `eval \`${commandLine}\``
            : `eval $(${commandLine})`
  lines.push(`${comment} Run this command to configure your shell: `, `${comment} ${hint}`)
  return lines.join('\n') + '\n'
}

/** docker-machine's no_proxy handling: the lower-case variable if set, else NO_PROXY, with ip added once. */
export function noProxy(ip: string, env: NodeJS.ProcessEnv = process.env): [string, string] {
  const [name, value] = env.no_proxy ? ['no_proxy', env.no_proxy] : ['NO_PROXY', env.NO_PROXY ?? '']
  if (!value) return [name, ip]
  return [name, value.split(',').map(s => s.trim()).includes(ip) ? value : `${value},${ip}`]
}

export function parseShell(s: string | undefined): Shell {
  if (!s) return detectShell()
  if (!(SHELLS as readonly string[]).includes(s)) throw new UserError(`unknown shell "${s}" (use ${SHELLS.join(', ')})`)
  return s as Shell
}

function dockerConfigDir(): string {
  return process.env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker')
}

/** Where the docker CLI keeps a context: meta/<sha256(name)>/meta.json and tls/<sha256(name)>/docker/. */
function contextPaths(name: string) {
  const root = path.join(dockerConfigDir(), 'contexts')
  const id = createHash('sha256').update(name).digest('hex')
  return {metaDir: path.join(root, 'meta', id), tlsDir: path.join(root, 'tls', id)}
}

/** A docker context as the docker CLI stores it, so `docker --context berth-NAME` works. */
export async function writeDockerContext(name: string, host: string, certDir: string, description: string): Promise<void> {
  const {metaDir, tlsDir} = contextPaths(name)
  await mkdirPrivate(metaDir)
  await mkdirPrivate(path.join(tlsDir, 'docker'))
  await copyContextTls(tlsDir, certDir)
  await writeFileAtomic(path.join(metaDir, 'meta.json'), JSON.stringify({
    Name: name, Metadata: {Description: description}, Endpoints: {docker: {Host: host, SkipTLSVerify: false}},
  }), 0o644)
}

async function copyContextTls(tlsDir: string, certDir: string): Promise<void> {
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) await writeFileAtomic(path.join(tlsDir, 'docker', f), await fs.readFile(path.join(certDir, f)))
}

const exists = (p: string) => fs.access(p).then(() => true, () => false)

/** After regenerate-certs: a context berth wrote gets the new client files. False when there is none. */
export async function refreshDockerContext(name: string, certDir: string): Promise<boolean> {
  const {metaDir, tlsDir} = contextPaths(name)
  if (!(await exists(path.join(metaDir, 'meta.json')))) return false
  await copyContextTls(tlsDir, certDir)
  return true
}

/** rm: the context berth wrote for the machine goes with it. False when there was none. */
export async function removeDockerContext(name: string): Promise<boolean> {
  const {metaDir, tlsDir} = contextPaths(name)
  if (!(await exists(metaDir))) return false
  await fs.rm(tlsDir, {recursive: true, force: true})
  await fs.rm(metaDir, {recursive: true, force: true})
  return true
}

/**
 * The engine URL the docker CLI would talk to, in its own order: DOCKER_HOST, then DOCKER_CONTEXT,
 * then the currentContext of config.json ("default" and no context mean the local socket).
 */
export async function activeDockerHost(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.DOCKER_HOST) return env.DOCKER_HOST
  let context = env.DOCKER_CONTEXT
  if (!context) {
    const cfg = await fs.readFile(path.join(dockerConfigDir(), 'config.json'), 'utf8').then(t => JSON.parse(t) as {currentContext?: string}, () => undefined)
    context = cfg?.currentContext
  }
  if (!context || context === 'default') return undefined
  const meta = await fs.readFile(path.join(contextPaths(context).metaDir, 'meta.json'), 'utf8').then(t => JSON.parse(t) as {Endpoints?: {docker?: {Host?: string}}}, () => undefined)
  return meta?.Endpoints?.docker?.Host
}
