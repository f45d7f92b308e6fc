/**
 * Server-sent events: one long response per page, written to as the views change. No
 * dependency and no upgrade dance; the browser's EventSource reconnects by itself, and each
 * new connection starts with a full snapshot, so a missed patch is never a stale page.
 */
import type {ServerResponse} from 'node:http'

export interface SseEvent {
  event: string
  data: unknown
}

const frame = (e: SseEvent) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`

export class EventHub {
  private readonly clients = new Set<ServerResponse>()
  private readonly ping: NodeJS.Timeout

  constructor(pingMs = 15_000) {
    // A comment line now and then keeps proxies and idle timers from closing a quiet stream.
    this.ping = setInterval(() => this.write(': ping\n\n'), pingMs)
    this.ping.unref()
  }

  get size(): number {
    return this.clients.size
  }

  add(res: ServerResponse, first: readonly SseEvent[]): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    })
    res.write(`retry: 2000\n\n${first.map(frame).join('')}`)
    this.clients.add(res)
    res.on('close', () => this.clients.delete(res))
  }

  send(e: SseEvent): void {
    this.write(frame(e))
  }

  private write(text: string): void {
    for (const res of this.clients) res.write(text)
  }

  close(): void {
    clearInterval(this.ping)
    for (const res of this.clients) res.end()
    this.clients.clear()
  }
}
