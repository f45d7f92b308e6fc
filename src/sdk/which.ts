import {constants, promises as fs} from 'node:fs'
import path from 'node:path'

/** Full path of an executable on PATH (or in the sbin folders, which root's PATH may lack). */
export async function which(bin: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])) {
    const p = path.join(dir, bin)
    try {
      await fs.access(p, constants.X_OK)
      return p
    } catch { /* next */ }
  }
  return undefined
}
