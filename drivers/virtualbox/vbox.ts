/** VBoxManage, called as docker-machine's VirtualBox driver did: one process per command, machine-readable output parsed. */
import {execFile} from 'node:child_process'
import {UserError} from '../../src/sdk/index.js'

export class VBoxError extends Error {
  constructor(readonly args: string[], readonly stderr: string, readonly code: number | string | undefined) {
    const detail = stderr.split('\n').map(l => l.replace(/^VBoxManage(\.exe)?: error: /, '').trim()).filter(l => l && !/^(Details|Context): /.test(l))[0]
    super(`VBoxManage ${args[0]} failed: ${detail || `exit ${code}`}`)
  }
}

export function vboxmanage(args: string[], opts: {timeoutMs?: number} = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('VBoxManage', ['--nologo', ...args], {timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20}, (err, stdout, stderr) => {
      if (!err) return resolve(stdout)
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new UserError('VBoxManage is not on PATH: install VirtualBox (6.1 or later)'))
      reject(new VBoxError(args, String(stderr), (err as NodeJS.ErrnoException).code ?? (err as {status?: number}).status))
    })
  })
}

/** `showvminfo --machinereadable`: key="value" lines (keys may be quoted too). */
export function parseMachineReadable(out: string): Record<string, string> {
  const kv: Record<string, string> = {}
  for (const line of out.split(/\r?\n/)) {
    const m = /^"?([^"=]+)"?="?(.*?)"?$/.exec(line.trim())
    if (m) kv[m[1]] = m[2]
  }
  return kv
}

/** `list hostonlyifs`: blocks of "Key: value" lines separated by blank lines. */
export function parseBlocks(out: string): Array<Record<string, string>> {
  return out.split(/\r?\n\s*\r?\n/).map(block => {
    const kv: Record<string, string> = {}
    for (const line of block.split(/\r?\n/)) {
      const i = line.indexOf(':')
      if (i > 0) kv[line.slice(0, i).trim()] = line.slice(i + 1).trim()
    }
    return kv
  }).filter(b => Object.keys(b).length)
}

export const notFound = (err: unknown) => err instanceof VBoxError && /Could not find a registered machine|VBOX_E_OBJECT_NOT_FOUND/i.test(err.stderr)
