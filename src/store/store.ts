import {randomBytes} from 'node:crypto'
import {closeSync, constants, fstatSync, lstatSync, openSync, promises as fs, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {isDeepStrictEqual} from 'node:util'
import {ExistsError, NotFoundError, UserError} from '../core/index.js'
import {acquireLock, type Lock, lockOwner, mkdirPrivate, pidAlive, writeFileAtomic} from '../core/index.js'
import type {MachineRecord} from './record.js'
import {NAME_RE, validateName} from './names.js'
import {migrateRecord} from './migrate.js'


export function defaultStorePath(): string {
  return process.env.BERTH_STORAGE_PATH || path.join(os.homedir(), '.berth')
}

/** A record that exists on disk but could not be read: `ls` shows it as an error row. */
export class CorruptRecord {
  constructor(readonly name: string, readonly reason: string) {}
}

/**
 * Machine records on disk (libmachine's persist): one folder per machine holding
 * config.json, its TLS files and SSH key; the store-wide CA and client cert in certs/.
 */
export class Store {
  readonly machinesDir: string
  readonly certsDir: string
  private made?: Promise<void>

  constructor(readonly root: string = defaultStorePath()) {
    this.machinesDir = path.join(root, 'machines')
    this.certsDir = path.join(root, 'certs')
  }

  machineDir(name: string): string {
    return path.join(this.machinesDir, name)
  }

  async init(): Promise<void> {
    try {
      await mkdirPrivate(this.machinesDir)
      await mkdirPrivate(this.certsDir)
      await fs.chmod(this.root, 0o700)
    } catch (err) {
      // mkdir -p reports a read-only or unmakeable store as a bare errno on some folder inside it.
      throw new UserError(`cannot make the machine store at ${this.root} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): check that it is a writable folder, or pass another --storage-path`)
    }
  }

  async names(): Promise<string[]> {
    try {
      const entries = await fs.readdir(this.machinesDir, {withFileTypes: true})
      return entries.filter(e => e.isDirectory() && NAME_RE.test(e.name)).map(e => e.name).sort()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
  }

  async exists(name: string): Promise<boolean> {
    try {
      await fs.access(path.join(this.machineDir(name), 'config.json'))
      return true
    } catch {
      return false
    }
  }

  /**
   * Claim a new machine folder. mkdir is atomic, so of two processes creating the same
   * name exactly one wins; the loser gets a clear error and touches nothing.
   */
  async reserve(name: string): Promise<string> {
    validateName(name)
    // Once per store object: fifty creates of one process need the store made only once.
    this.made ??= this.init().catch(err => {
      this.made = undefined
      throw err
    })
    await this.made
    const dir = this.machineDir(name)
    try {
      await fs.mkdir(dir, {mode: 0o700})
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ExistsError(`Docker machine "${name}" already exists`)
      throw err
    }
    return dir
  }

  newId(): string {
    return randomBytes(6).toString('hex')
  }

  async load(name: string): Promise<MachineRecord> {
    validateName(name)
    const file = path.join(this.machineDir(name), 'config.json')
    let text: string
    try {
      text = readRecordFile(name, file).text
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        if (await this.isReservedFolder(name)) throw new NotFoundError(`machine "${name}" is being created or its create was interrupted before anything was made; run "berth rm -f ${name}"`)
        throw new NotFoundError(`Docker machine "${name}" does not exist`)
      }
      throw err
    }
    return parseRecord(name, text, file)
  }

  /**
   * Load every record; unreadable ones come back as CorruptRecord so the rest still list.
   * Records already validated unchanged (same inode, size and mtime) skip the schema check:
   * loading the validator costs more than listing 200 records, and ls must start fast.
   */
  async loadAll(): Promise<Array<MachineRecord | CorruptRecord>> {
    const names = await this.names()
    const cacheFile = path.join(this.root, '.validated.json')
    const cache = readCache(cacheFile)
    const stamps: Array<string | undefined> = []
    const out: Array<MachineRecord | CorruptRecord> = []
    const misses: Array<Promise<void>> = []
    names.forEach((name, i) => {
      const file = path.join(this.machineDir(name), 'config.json')
      // A version this process read and validated before, still in place (every save is a new
      // file, so a new inode): two lstats instead of reading it again. The joiners of a swarm
      // create list the store a few times each, and most of its records have not changed.
      const seen = texts.get(file)
      if (seen && unchangedSince(file, seen.stamp)) {
        try {
          stamps[i] = seen.stamp
          out[i] = migrateRecord(JSON.parse(seen.text)) as MachineRecord
          return
        } catch {
          stamps[i] = undefined
        }
      }
      misses.push((async () => {
        try {
          // Synchronous on purpose: hundreds of tiny reads finish sooner than their promise round trips.
          const {st, text} = readRecordFile(name, file)
          const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`
          if ((await cache)[name] === stamp || texts.get(file)?.stamp === stamp) {
            stamps[i] = stamp
            const rec = migrateRecord(JSON.parse(text)) as MachineRecord
            texts.set(file, {stamp, text})
            out[i] = rec
            return
          }
          const rec = await parseRecord(name, text, file)
          // Only a record the validator left as it was may skip it next time: one it filled in
          // (defaults, stripped keys) would come back from the cache without them.
          if (isDeepStrictEqual(rec, migrateRecord(JSON.parse(text)))) {
            stamps[i] = stamp
            texts.set(file, {stamp, text})
          }
          out[i] = rec
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
            out[i] = new CorruptRecord(name, await this.isReservedFolder(name) ? 'no config.json: the create was interrupted before anything was made' : 'gone')
            return
          }
          out[i] = new CorruptRecord(name, (err as Error).message)
        }
      })())
    })
    await Promise.all(misses)
    const fresh: Record<string, string> = {}
    names.forEach((n, i) => {
      if (stamps[i]) fresh[n] = stamps[i]!
    })
    // At most once a second per process (unless there is none to speak of): the joiners of a 50-host create list the store again and
    // again while their records change, and each rewrite was a write and two fsyncs (a cache a
    // little behind only costs the next ls a check of what changed since).
    const known = await cache
    const due = !Object.keys(known).length || Date.now() - (cacheWrites.get(cacheFile) ?? 0) >= 1000
    if (due && JSON.stringify(fresh) !== JSON.stringify(known)) {
      cacheWrites.set(cacheFile, Date.now())
      // Durable and never torn (a crash used to leave it empty); a store ls cannot write (read-only)
      // still lists, only slower.
      await writeFileAtomic(cacheFile, JSON.stringify(fresh)).catch(() => {})
    }
    return out
  }

  async save(record: MachineRecord): Promise<void> {
    const file = path.join(this.machineDir(record.name), 'config.json')
    const text = JSON.stringify(record, null, 2) + '\n'
    // A save of what this process last wrote there, still in place (same inode: every write is
    // a new file renamed over the old), changes nothing on disk: a create saves the same record
    // more than once (driver, lifecycle), and each save is a write and two fsyncs.
    const last = written.get(file)
    if (last?.stamp && last.text === text && await fileStamp(file) === last.stamp) return
    try {
      await writeFileAtomic(file, text)
      written.set(file, {text, stamp: await fileStamp(file)})
    } catch (err) {
      written.delete(file)
      // A parallel `rm` took the folder: the temporary file beside config.json has nowhere to go.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`machine "${record.name}" was removed (${this.machineDir(record.name)}) while this command was changing it`)
      throw err
    }
  }

  /** Serialises changes to one machine across berth processes. */
  lock(name: string, timeoutMs = 60_000): Promise<Lock> {
    return acquireLock(path.join(this.machineDir(name), '.lock'), {timeoutMs, what: `machine "${name}"`})
  }

  /** True while another live process holds the machine's lock (e.g. a create in flight). */
  async busy(name: string): Promise<boolean> {
    const owner = await lockOwner(path.join(this.machineDir(name), '.lock'))
    return owner !== undefined && owner !== process.pid && pidAlive(owner)
  }

  async remove(name: string): Promise<void> {
    validateName(name)
    written.delete(path.join(this.machineDir(name), 'config.json'))
    texts.delete(path.join(this.machineDir(name), 'config.json'))
    await fs.rm(this.machineDir(name), {recursive: true, force: true})
  }

  private async isReservedFolder(name: string): Promise<boolean> {
    try {
      return (await fs.stat(this.machineDir(name))).isDirectory()
    } catch {
      return false
    }
  }
}

/** The text of each record version this process validated (file -> stamp and text): the schema check runs once per version of a file. */
const texts = new Map<string, {stamp: string; text: string}>()

/**
 * Whether config.json is still the version with this stamp: a regular file (not a link planted
 * since) in a folder that is no link either; anything else goes the long way, which says why.
 */
function unchangedSince(file: string, stamp: string): boolean {
  try {
    if (lstatSync(path.dirname(file)).isSymbolicLink()) return false
    const st = lstatSync(file)
    return st.isFile() && `${st.ino}:${st.size}:${st.mtimeMs}` === stamp
  } catch {
    return false
  }
}

/** When this process last rewrote each store's ls cache. */
const cacheWrites = new Map<string, number>()

/** What this process last saved to each config.json, with the file's stamp right after. */
const written = new Map<string, {text: string; stamp: string | undefined}>()

async function fileStamp(file: string): Promise<string | undefined> {
  const st = await fs.lstat(file).catch(() => undefined)
  return st && `${st.ino}:${st.size}:${st.mtimeMs}`
}

const RECORD_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK

/**
 * A machine's config.json, read without following links: a link planted in the store (to
 * /etc/shadow, say) must not make ls or inspect read, let alone print, what it points to. The
 * machine folder is checked too, as O_NOFOLLOW covers only the last part of the path.
 */
function readRecordFile(name: string, file: string): {st: import('node:fs').Stats; text: string} {
  const fix = `replace it with the machine's record or run "berth rm -f ${name}"`
  if (lstatSync(path.dirname(file)).isSymbolicLink()) throw new Error(`machine folder of "${name}" (${path.dirname(file)}) is a symbolic link, which berth never follows: ${fix}`)
  let fd: number
  try {
    fd = openSync(file, RECORD_FLAGS)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new Error(`config.json of "${name}" (${file}) is a symbolic link, which berth never follows: ${fix}`)
    throw err
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new Error(`config.json of "${name}" (${file}) is not a regular file: ${fix}`)
    return {st, text: readFileSync(fd, 'utf8')}
  } finally {
    closeSync(fd)
  }
}

/**
 * The ls cache, or an empty one when it is missing or not what loadAll writes: it only ever saves
 * work, so no content of it may stop a read.
 */
async function readCache(file: string): Promise<Record<string, string>> {
  const st = await fs.lstat(file).catch(() => undefined)
  const stamp = st && `${st.ino}:${st.size}:${st.mtimeMs}`
  const last = cacheReads.get(file)
  if (stamp && last?.stamp === stamp) return last.cache
  try {
    const raw: unknown = JSON.parse(await fs.readFile(file, 'utf8'))
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {}
    const cache = Object.fromEntries(Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === 'string'))
    if (stamp) cacheReads.set(file, {stamp, cache})
    return cache
  } catch {
    return {}
  }
}

/** The ls cache as this process last read it, by the file's stamp: unchanged, it is not read again. */
const cacheReads = new Map<string, {stamp: string; cache: Record<string, string>}>()

export async function parseRecord(name: string, text: string, file?: string): Promise<MachineRecord> {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    // Not JSON.parse's message: it quotes the start of the file, and the file may not be ours.
    throw new Error(`config.json of "${name}"${file ? ` (${file})` : ''} is not valid JSON (truncated or edited?): restore it or run "berth rm -f ${name}"`)
  }
  try {
    raw = migrateRecord(raw)
  } catch (err) {
    throw new Error(`config.json of "${name}": ${(err as Error).message}`)
  }
  const {MachineRecord} = await import('./record.js')
  const parsed = MachineRecord.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new Error(`config.json of "${name}" is invalid: ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  if (parsed.data.name !== name) throw new Error(`config.json of "${name}" names another machine ("${parsed.data.name}")`)
  return parsed.data
}
