import {randomBytes} from 'node:crypto'
import {promises as fs, constants} from 'node:fs'
import path from 'node:path'
import {ConflictError} from './errors.js'
import {poll} from './poll.js'

/** Write a file so readers see either the old or the new content, never a torn one. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fh = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await fs.rename(tmp, file)
  } catch (err) {
    await fs.rm(tmp, {force: true})
    throw err
  }
  // The rename is durable only once the directory entry is on disk.
  const dir = await fs.open(path.dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

export async function mkdirPrivate(dir: string): Promise<void> {
  await fs.mkdir(dir, {recursive: true, mode: 0o700})
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface Lock {
  release(): Promise<void>
}

/**
 * Cross-process lock: a file created with O_EXCL holding the owner's PID.
 * A lock whose owner died (crash, SIGKILL) is stale and taken over.
 */
export async function acquireLock(file: string, opts: {timeoutMs?: number; what?: string} = {}): Promise<Lock> {
  let owner: number | undefined
  const attempt = async (): Promise<Lock | undefined> => {
    try {
      const fh = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
      await fh.writeFile(String(process.pid))
      await fh.close()
      let released = false
      return {
        async release() {
          if (released) return
          released = true
          await fs.rm(file, {force: true})
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    owner = await lockOwner(file)
    if (owner !== undefined && !pidAlive(owner)) {
      // Rename first so that two processes reclaiming the same stale lock cannot both win.
      const stale = `${file}.stale.${process.pid}`
      try {
        await fs.rename(file, stale)
        const again = await lockOwner(stale)
        if (again === owner) await fs.rm(stale, {force: true})
        else await fs.rename(stale, file).catch(() => {})
      } catch {
        // someone else reclaimed it first
      }
      return attempt() // at once: the lock is free now (or someone else's again)
    }
    return undefined
  }
  return poll(attempt, {
    timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 10, backoff: 2, maxIntervalMs: 50,
    fatal: () => true,
    timeoutError: () => new ConflictError(`timed out waiting for the lock on ${opts.what ?? file} (held by PID ${owner ?? 'unknown'})`),
  })
}

/** PID recorded in a lock file, or undefined when it is missing or being written. */
export async function lockOwner(file: string): Promise<number | undefined> {
  try {
    const text = await fs.readFile(file, 'utf8')
    const pid = Number.parseInt(text, 10)
    return Number.isFinite(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p)
    return true
  } catch {
    return false
  }
}
