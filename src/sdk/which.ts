import {constants, promises as fs} from 'node:fs'
import path from 'node:path'

// A create of fifty hosts asks for the same few tools fifty times; a tool found stays found.
const found = new Map<string, string>()

/** Full path of an executable on PATH (or in the sbin folders, which root's PATH may lack). */
export async function which(bin: string): Promise<string | undefined> {
  const key = `${process.env.PATH ?? ''}\0${bin}`
  const known = found.get(key)
  if (known) return known
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])) {
    const p = path.join(dir, bin)
    try {
      await fs.access(p, constants.X_OK)
      found.set(key, p)
      return p
    } catch { /* next */ }
  }
  return undefined
}
