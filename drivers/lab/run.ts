/** Commands the lab driver runs on this host (ip, nsenter, iptables), their stderr in the error. */
import {execFile, spawn} from 'node:child_process'
import {promisify} from 'node:util'

export const execFileP = promisify(execFile)

export async function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', d => (out += d))
    child.stderr.on('data', d => (err += d))
    child.on('error', reject)
    child.on('close', code => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim() || `exit ${code}`}`))))
    child.stdin.on('error', () => {}) // a command may exit without reading its input
    child.stdin.end(input ?? '')
  })
}
