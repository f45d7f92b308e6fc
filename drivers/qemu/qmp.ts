/**
 * One QMP command over QEMU's monitor socket: greeting, capabilities negotiation, the command,
 * its answer (events in between are skipped). QEMU serves one monitor client at a time, so each
 * call connects, asks and leaves at once.
 */
import net from 'node:net'

export class QmpError extends Error {}

export function qmp<T = unknown>(socketPath: string, command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const sock = net.connect({path: socketPath})
    let buf = ''
    let stage: 'greeting' | 'caps' | 'cmd' = 'greeting'
    const done = (err: Error | undefined, value?: T) => {
      clearTimeout(timer)
      sock.destroy()
      if (err) reject(err)
      else resolve(value as T)
    }
    const timer = setTimeout(() => done(new QmpError(`QMP ${command}: no answer within ${timeoutMs} ms`)), timeoutMs)
    sock.on('error', err => done(new QmpError(`QMP ${command}: ${err.message}`)))
    sock.on('close', () => done(new QmpError(`QMP ${command}: monitor closed the connection`)))
    sock.on('data', d => {
      buf += d.toString('utf8')
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim()
        buf = buf.slice(nl + 1)
        if (!line) continue
        let msg: Record<string, any>
        try {
          msg = JSON.parse(line)
        } catch {
          continue
        }
        if (msg.event) continue
        if (stage === 'greeting' && msg.QMP) {
          stage = 'caps'
          sock.write(JSON.stringify({execute: 'qmp_capabilities'}) + '\n')
        } else if (stage === 'caps') {
          if (msg.error) return done(new QmpError(`QMP capabilities: ${msg.error.desc}`))
          stage = 'cmd'
          sock.write(JSON.stringify({execute: command, ...(args ? {arguments: args} : {})}) + '\n')
        } else if (stage === 'cmd') {
          if (msg.error) return done(new QmpError(`QMP ${command}: ${msg.error.desc}`))
          return done(undefined, msg.return as T)
        }
      }
    })
  })
}
