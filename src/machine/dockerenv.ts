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

/** Lines that set (value) or unset (null) variables, in the shell's own syntax. */
export function shellLines(shell: Shell, vars: Array<[string, string | null]>, evalHint: string): string {
  const q = (v: string) => JSON.stringify(v)
  const lines = vars.map(([k, v]) => {
    switch (shell) {
      case 'fish': return v === null ? `set -e ${k};` : `set -gx ${k} ${q(v)};`
      case 'powershell': return v === null ? `Remove-Item Env:\\${k}` : `$Env:${k} = ${q(v)}`
      case 'cmd': return `SET ${k}=${v ?? ''}`
      case 'tcsh': return v === null ? `unsetenv ${k};` : `setenv ${k} ${q(v)};`
      case 'emacs': return v === null ? `(setenv ${q(k)} nil)` : `(setenv ${q(k)} ${q(v)})`
      // The trailing ';' keeps unquoted `eval $(berth env ...)` right: its lines arrive as one.
      default: return v === null ? `unset ${k};` : `export ${k}=${q(v)};`
    }
  })
  const comment = shell === 'cmd' ? 'REM' : shell === 'emacs' ? ';;' : '#'
  const hint = shell === 'fish' ? `eval (${evalHint})` : shell === 'powershell' ? `& ${evalHint} | Invoke-Expression` : shell === 'cmd' ? `@FOR /f "tokens=*" %i IN ('${evalHint}') DO @%i` : shell === 'tcsh' ? `eval \`${evalHint}\`` : `eval $(${evalHint})`
  lines.push(`${comment} Run this command to configure your shell:`, `${comment} ${hint}`)
  return lines.join('\n') + '\n'
}

export function parseShell(s: string | undefined): Shell {
  if (!s) return detectShell()
  if (!(SHELLS as readonly string[]).includes(s)) throw new UserError(`unknown shell "${s}" (use ${SHELLS.join(', ')})`)
  return s as Shell
}

/** A docker context as the docker CLI stores it, so `docker --context berth-NAME` works. */
export async function writeDockerContext(name: string, host: string, certDir: string, description: string): Promise<void> {
  const root = path.join(process.env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker'), 'contexts')
  const id = createHash('sha256').update(name).digest('hex')
  const metaDir = path.join(root, 'meta', id)
  const tlsDir = path.join(root, 'tls', id, 'docker')
  await mkdirPrivate(metaDir)
  await mkdirPrivate(tlsDir)
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) await writeFileAtomic(path.join(tlsDir, f), await fs.readFile(path.join(certDir, f)))
  await writeFileAtomic(path.join(metaDir, 'meta.json'), JSON.stringify({
    Name: name, Metadata: {Description: description}, Endpoints: {docker: {Host: host, SkipTLSVerify: false}},
  }), 0o644)
}
