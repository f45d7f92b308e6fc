import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const made: string[] = []
// Hosts are removed by each benchmark; the folders that held them go when the run ends.
process.on('exit', () => {
  for (const d of made) rmSync(d, {recursive: true, force: true})
})

/** A temp folder of this benchmark run, removed when the run ends. */
export function tmp(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), `berth-bench-${prefix}-`))
  made.push(d)
  return d
}
