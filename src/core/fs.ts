import {randomBytes} from 'node:crypto'
import {promises as fs, constants} from 'node:fs'
import path from 'node:path'
import {ConflictError} from './errors.js'
import {poll} from './poll.js'

/**
 * Write a file so readers see either the old or the new content, never a torn one. `syncDir:
 * false` leaves the folder's fsync to the caller's next atomic write into the same folder (one
 * commit then makes both names durable): a machine's keys are followed by its record.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600, opts: {syncDir?: boolean} = {}): Promise<void> {
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
  if (opts.syncDir === false) return
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
 * An empty or garbage lock older than this is stale. A berth lock is never empty (it is linked into
 * place with its PID already in it), so this only waits out a writer that creates and then writes,
 * an older berth, say, in the microseconds between the two; a crash left the rest.
 */
const UNOWNED_GRACE_MS = 2_000

interface LockState {
  pid?: number
  mtimeMs: number
}

/** Locks this process holds or is taking, by file: its other waiters queue here. */
const inProcess = new Map<string, Promise<void>>()

/**
 * acquireFileLock, with waiters of this process queued in memory: fifty creates in one berth
 * waiting on one lock (the store CA being made, the lab leases) each polling the file cost more
 * CPU than the work they waited for. Only the first waiter of a process polls the file.
 */
export async function acquireLock(file: string, opts: {timeoutMs?: number; what?: string} = {}): Promise<Lock> {
  const key = path.resolve(file)
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
  for (let held = inProcess.get(key); held; held = inProcess.get(key)) {
    const left = deadline - Date.now()
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([held.then(() => false), new Promise<boolean>(resolve => (timer = setTimeout(() => resolve(true), Math.max(0, left))))])
    clearTimeout(timer)
    if (timedOut) throw new ConflictError(`timed out waiting for the lock on ${opts.what ?? file} (held by PID ${process.pid})`)
  }
  let done!: () => void
  inProcess.set(key, new Promise<void>(resolve => (done = resolve)))
  const free = () => {
    inProcess.delete(key)
    done()
  }
  try {
    const lock = await acquireFileLock(file, {...opts, timeoutMs: Math.max(1, deadline - Date.now())})
    let released = false
    return {
      async release() {
        if (released) return
        released = true
        try {
          await lock.release()
        } finally {
          free()
        }
      },
    }
  } catch (err) {
    free()
    throw err
  }
}

/**
 * Cross-process lock: a file holding the owner's PID, made by writing a private file and linking
 * it to the lock's name, so the lock appears with its owner in it or not at all. A lock whose
 * owner died (crash, SIGKILL), or that names no owner (a crash mid-write of an earlier berth, a
 * lost disk block), is stale and taken over.
 */
async function acquireFileLock(file: string, opts: {timeoutMs?: number; what?: string}): Promise<Lock> {
  let owner: number | undefined
  const attempt = async (): Promise<Lock | undefined> => {
    if (await createLockFile(file)) {
      let released = false
      return {
        async release() {
          if (released) return
          released = true
          await fs.rm(file, {force: true})
        },
      }
    }
    const seen = await readLock(file)
    owner = seen?.pid
    if (seen && isStale(seen)) {
      // Moved aside first so that two processes reclaiming the same stale lock cannot both win, and
      // looked at again there: what was moved may be a live lock made since it was read.
      const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`
      try {
        await fs.rename(file, aside)
        const moved = await readLock(aside)
        if (moved && !isStale(moved)) await fs.link(aside, file).catch(() => {})
        await fs.rm(aside, {force: true})
      } catch (err) {
        // ENOENT: someone else reclaimed it first. Anything else would fail the same way at once.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return undefined
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

/** True when the lock was made for this process; false when it exists already. */
async function createLockFile(file: string): Promise<boolean> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  await fs.writeFile(tmp, String(process.pid), {mode: 0o600, flag: 'wx'})
  try {
    await fs.link(tmp, file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await fs.rm(tmp, {force: true})
  }
}

function isStale(lock: LockState): boolean {
  if (lock.pid === undefined) return Date.now() - lock.mtimeMs > UNOWNED_GRACE_MS
  return !pidAlive(lock.pid)
}

/** The lock's owner and age; undefined when there is no lock. Never follows a link. */
async function readLock(file: string): Promise<LockState | undefined> {
  let fh: fs.FileHandle
  try {
    fh = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    return {mtimeMs: 0} // a link or worse where a lock should be: nobody's, so stale
  }
  try {
    const st = await fh.stat()
    const text = st.isFile() && st.size < 64 ? await fh.readFile('utf8') : ''
    return {pid: /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined, mtimeMs: st.mtimeMs}
  } finally {
    await fh.close()
  }
}

/** PID recorded in a lock file, or undefined when it is missing or names no owner. */
export async function lockOwner(file: string): Promise<number | undefined> {
  return (await readLock(file).catch(() => undefined))?.pid
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p)
    return true
  } catch {
    return false
  }
}
