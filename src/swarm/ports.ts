/**
 * Pre-join reachability of a manager's swarm ports, probed from the joiner. Two answers differ:
 * "refused" (an RST or ICMP port-unreachable: the port is closed or rejected) is final and fails
 * at once; "no answer" (a filter dropping packets, or a box too busy to run the probe in time) is
 * retried with backoff until a deadline that the caller scales with its SSH timeout, so a healthy
 * manager on a loaded machine is never reported as blocked.
 */
import net from 'node:net'
import {poll, SWARM_PORTS, UserError} from '../core/index.js'
import type {SSHSession} from '../ssh/index.js'

export type PortAnswer = 'ok' | 'refused' | 'silent'

export interface PortCheckOptions {
  /** Give up on ports that stay silent after this long (default 60 s). */
  timeoutMs?: number
  signal?: AbortSignal
  /** Told about each retry (debug output). */
  onRetry?: (why: string) => void
}

const OPEN_ADVICE = 'open 2377/tcp, 7946/tcp+udp and 4789/udp between swarm members'

class PortRefused extends UserError {}

/**
 * One probe per port, all at once, on the joiner. bash's /dev/tcp connect reports why it failed
 * (C locale: the text is stable); `timeout` exits 124 when the connect got no answer at all.
 */
export function probeScript(ip: string, ports: number[], attemptSec: number): string {
  const probe = `p() { o=$(LC_ALL=C timeout ${attemptSec} bash -c "</dev/tcp/${ip}/$1" 2>&1); r=$?; ` +
    `if [ $r = 0 ]; then echo "$1:ok"; elif [ $r = 124 ]; then echo "$1:silent"; else case "$o" in *refused*) echo "$1:refused";; *) echo "$1:silent";; esac; fi; }`
  return `${probe}; ${ports.map(p => `p ${p} &`).join(' ')} wait`
}

export function parseProbe(stdout: string, ports: number[]): Map<number, PortAnswer> {
  const out = new Map<number, PortAnswer>()
  for (const p of ports) {
    const m = new RegExp(`^${p}:(ok|refused|silent)$`, 'm').exec(stdout)
    // No line for a port (the probe itself was killed, say) is no answer, not a refusal.
    out.set(p, (m?.[1] as PortAnswer | undefined) ?? 'silent')
  }
  return out
}

function probeTcp(host: string, port: number, timeoutMs: number): Promise<PortAnswer> {
  return new Promise(resolve => {
    const s = net.connect({host, port, timeout: timeoutMs}, () => {
      s.destroy()
      resolve('ok')
    })
    s.on('timeout', () => {
      s.destroy()
      resolve('silent')
    })
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : 'silent'))
  })
}

/** TCP reachability of the manager's swarm ports from the joiner (UDP cannot be probed without a listener). */
export async function checkPorts(session: SSHSession | undefined, managerIp: string, opts: PortCheckOptions = {}): Promise<void> {
  const tcp = SWARM_PORTS.filter(p => p.proto === 'tcp')
  const pending = new Set(tcp.map(p => p.port))
  const timeoutMs = opts.timeoutMs ?? 60_000
  let attemptSec = 3
  const from = session ? ' from the joining machine' : ''
  await poll(async () => {
    const ports = [...pending]
    const answers = session
      ? parseProbe((await session.exec(probeScript(managerIp, ports, attemptSec))).stdout, ports)
      : new Map(await Promise.all(ports.map(async p => [p, await probeTcp(managerIp, p, attemptSec * 1000)] as const)))
    for (const [port, answer] of answers) {
      if (answer === 'ok') pending.delete(port)
      if (answer === 'refused') {
        const what = tcp.find(p => p.port === port)!.what
        throw new PortRefused(`swarm port ${port}/tcp (${what}) on ${managerIp} is not reachable${from}: the connection was refused (closed or rejected): ${OPEN_ADVICE}`)
      }
    }
    if (!pending.size) return true
    // A busy box may need longer than the first attempt allowed just to run the probe.
    attemptSec = Math.min(attemptSec * 2, 15)
    opts.onRetry?.(`no answer yet on ${[...pending].map(p => `${p}/tcp`).join(', ')} of ${managerIp}`)
    return undefined
  }, {
    timeoutMs, intervalMs: 500, backoff: 2, maxIntervalMs: 5000, signal: opts.signal,
    fatal: err => err instanceof PortRefused,
    timeoutError: () => {
      const which = tcp.filter(p => pending.has(p.port)).map(p => `${p.port}/tcp (${p.what})`).join(' and ')
      return new UserError(`swarm port ${which} on ${managerIp} is not reachable${from}: no answer within ${Math.round(timeoutMs / 1000)} s (filtered?): ${OPEN_ADVICE}`)
    },
  })
}
