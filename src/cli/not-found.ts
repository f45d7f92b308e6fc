/**
 * oclif's command_not_found hook: one line naming the nearest command ("did you mean"), exit 1
 * like every other usage error. (@oclif/plugin-not-found asks only on a TTY and names nothing
 * in a script's log.)
 */
import type {Hook} from '@oclif/core/hooks'
import {asDockerMachine} from './dm-lines.js'

/** Edit distance, for names of a few letters: the plain dynamic programme is enough. */
export function distance(a: string, b: string): number {
  let prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]!
}

/** The closest of the candidates, when it is close enough to be what was meant. */
export function closest(typed: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const c of candidates) {
    const d = c.startsWith(typed) && typed.length >= 2 ? 0.5 : distance(typed, c)
    if (d < bestD) [best, bestD] = [c, d]
  }
  return bestD <= Math.max(2, Math.floor(typed.length / 3)) ? best : undefined
}

const hook: Hook.CommandNotFound = async function (opts) {
  const sep = opts.config.topicSeparator
  const ids = opts.config.commands.filter(c => !c.hidden).flatMap(c => [c.id, ...c.aliases])
  const typed = opts.id.split(':').join(sep)
  const guess = closest(opts.id, ids)
  const bin = opts.config.bin
  const hint = guess ? ` Did you mean "${guess.split(':').join(sep)}"?` : ''
  // As docker-machine its own name, with no "berth: " before it (src/cli/dm-lines.ts).
  const dm = asDockerMachine()
  process.stderr.write(`${dm ? '' : 'berth: '}"${typed}" is not a ${dm ? 'docker-machine' : bin} command.${hint} See "${dm ? 'docker-machine' : bin} help" for the list.\n`)
  this.exit(1)
}

export default hook
