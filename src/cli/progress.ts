/**
 * Per-machine progress on stderr. On a terminal: one live line per machine with its elapsed time,
 * redrawn in place; warnings and notes are printed above the live block through the same
 * renderer, so nothing overwrites them and no stale line stays. Otherwise (a pipe, a log, CI,
 * TERM=dumb, --debug): plain "machine: step" lines. NO_COLOR (any value) turns colour off.
 */
export interface ProgressOptions {
  live: boolean
  color: boolean
  columns?: () => number
  now?: () => number
}

export function progressOptions(stream: NodeJS.WriteStream, debug: boolean, env: NodeJS.ProcessEnv = process.env): ProgressOptions {
  const live = Boolean(stream.isTTY) && !debug && env.TERM !== 'dumb'
  return {live, color: live && env.NO_COLOR === undefined, columns: () => stream.columns || 100}
}

interface Line {
  msg: string
  start: number
  end?: number
}

const DONE = /^(ready|running|failed|removed)\b/

export class Progress {
  private lines = new Map<string, Line>()
  private drawn = 0
  private timer?: NodeJS.Timeout
  private readonly now: () => number

  constructor(private readonly write: (s: string) => void, private readonly opts: ProgressOptions) {
    this.now = opts.now ?? Date.now
  }

  step(machine: string, msg: string): void {
    const t = this.now()
    const prev = this.lines.get(machine)
    const line: Line = {msg, start: prev?.start ?? t}
    if (DONE.test(msg)) line.end = t
    this.lines.set(machine, line)
    if (!this.opts.live) {
      this.write(`${machine}: ${msg}\n`)
      return
    }
    this.redraw()
    if (!this.timer && [...this.lines.values()].some(l => l.end === undefined)) {
      // Elapsed times tick while something is in flight; unref'd, so it never keeps berth alive.
      this.timer = setInterval(() => this.tick(), 1000)
      this.timer.unref()
    }
  }

  /** A line that must stay (a warning, a note): above the live block, which is drawn again below it. */
  message(text: string): void {
    if (!this.opts.live || !this.drawn) {
      this.write(text.endsWith('\n') ? text : text + '\n')
      return
    }
    this.write(`\x1b[${this.drawn}A\x1b[J` + (text.endsWith('\n') ? text : text + '\n'))
    this.drawn = 0
    this.redraw()
  }

  private tick(): void {
    if (![...this.lines.values()].some(l => l.end === undefined)) {
      clearInterval(this.timer)
      this.timer = undefined
    }
    this.redraw()
  }

  private redraw(): void {
    const width = Math.max(20, (this.opts.columns?.() ?? 100) - 1)
    const pad = Math.min(24, Math.max(8, ...[...this.lines.keys()].map(k => k.length + 1)))
    const out = [...this.lines].map(([m, l]) => {
      const secs = Math.round(((l.end ?? this.now()) - l.start) / 1000)
      const text = `${m.padEnd(pad)} ${String(secs).padStart(3)}s  ${l.msg}`.slice(0, width)
      return `\x1b[2K${this.paint(text, l)}\n`
    })
    this.write((this.drawn ? `\x1b[${this.drawn}A` : '') + out.join(''))
    this.drawn = out.length
  }

  private paint(text: string, l: Line): string {
    if (!this.opts.color) return text
    if (l.msg.startsWith('failed')) return `\x1b[31m${text}\x1b[0m`
    if (l.end !== undefined) return `\x1b[32m${text}\x1b[0m`
    return text
  }
}
