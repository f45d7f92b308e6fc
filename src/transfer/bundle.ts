/**
 * `berth export NAME` / `berth import FILE`: one machine (record, SSH key, CA and client
 * certificate) in one file, encrypted with a passphrase. The construction is the standard one,
 * from node:crypto only: scrypt (N=2^17, r=8, p=1) stretches the passphrase into an AES-256-GCM
 * key; the header (magic, version, KDF parameters, salt, IV) is bound to the ciphertext as
 * additional data, so a changed byte anywhere fails authentication like a wrong passphrase does.
 */
import {createCipheriv, createDecipheriv, randomBytes, scrypt} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {ExistsError, UserError, writeFileAtomic} from '../core/index.js'
import type {Ctx} from '../host/index.js'
import {parseRecord, type MachineRecord} from '../store/index.js'

const MAGIC = 'berth-machine-export'
const VERSION = 1
const KDF = {N: 2 ** 17, r: 8, p: 1}
/** What a file may ask of the KDF: more would let a crafted file stall or exhaust this process. */
const MAX_N = 2 ** 20
/** Files above this stay behind (VM disks): the export is of what reaches the machine, not the machine's disk. */
const MAX_FILE = 4 << 20
/** Never exported: the lock, and (unless asked) a CA key, which signs more than this machine. */
const SKIP = new Set(['.lock', 'config.json'])

interface Header {
  magic: typeof MAGIC
  version: number
  kdf: {name: 'scrypt'; N: number; r: number; p: number; salt: string}
  cipher: 'aes-256-gcm'
  iv: string
}

interface Payload {
  record: MachineRecord
  /** The machine folder this came from: paths under it in the record are rewritten on import. */
  dir: string
  files: Record<string, {mode: number; data: string}>
}

function deriveKey(passphrase: string, salt: Buffer, k: {N: number; r: number; p: number}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, 32, {N: k.N, r: k.r, p: k.p, maxmem: 256 * k.N * k.r + (1 << 20)}, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

export interface ExportResult {
  bundle: Buffer
  /** Files of the machine folder left out (too big, or a CA key not asked for). */
  left: string[]
}

export async function exportMachine(ctx: Ctx, name: string, passphrase: string, opts: {withCaKey?: boolean} = {}): Promise<ExportResult> {
  if (!passphrase) throw new UserError('empty passphrase: the export would not be protected')
  const record = await ctx.store.load(name)
  if (record.status !== 'ready') throw new UserError(`machine "${name}" is not ready (${record.status}): only a working machine can be exported`)
  const dir = ctx.store.machineDir(name)
  const files: Payload['files'] = {}
  const left: string[] = []
  for (const e of await fs.readdir(dir, {withFileTypes: true})) {
    if (SKIP.has(e.name) || e.name.startsWith('.')) continue
    if (!e.isFile()) {
      left.push(`${e.name} (not a regular file)`)
      continue
    }
    if (e.name === 'ca-key.pem' && !opts.withCaKey) {
      left.push('ca-key.pem (the CA key: pass --with-ca-key to carry it)')
      continue
    }
    const st = await fs.stat(path.join(dir, e.name))
    if (st.size > MAX_FILE) {
      left.push(`${e.name} (${Math.round(st.size / 1048576)} MiB)`)
      continue
    }
    files[e.name] = {mode: st.mode & 0o777, data: (await fs.readFile(path.join(dir, e.name))).toString('base64')}
  }
  // Files the record names outside the folder (a generic machine's --generic-ssh-key, say) go too,
  // as files of the folder: the other workstation has no such path.
  const moved: Record<string, string> = {}
  for (const p of outsidePaths({driverData: record.driverData, ssh: record.ssh}, dir)) {
    const st = await fs.stat(p).catch(() => undefined)
    if (!st?.isFile()) continue
    if (st.size > MAX_FILE) {
      left.push(`${p} (${Math.round(st.size / 1048576)} MiB)`)
      continue
    }
    let f = `x-${path.basename(p)}`
    for (let i = 2; files[f]; i++) f = `x${i}-${path.basename(p)}`
    files[f] = {mode: st.mode & 0o777, data: (await fs.readFile(p)).toString('base64')}
    moved[p] = path.join(dir, f)
  }
  if (record.driverData.agent === true) left.push('the SSH agent\'s key (the machine logs in with SSH_AUTH_SOCK): the other workstation needs it in its agent')
  for (const need of ['ca.pem', 'cert.pem', 'key.pem']) {
    if (!files[need]) throw new UserError(`machine "${name}" has no ${need} in ${dir}: run "berth regenerate-certs ${name}" first`)
  }
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const header: Header = {magic: MAGIC, version: VERSION, kdf: {name: 'scrypt', ...KDF, salt: salt.toString('base64')}, cipher: 'aes-256-gcm', iv: iv.toString('base64')}
  const headerLine = Buffer.from(JSON.stringify(header) + '\n')
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(passphrase, salt, KDF), iv)
  cipher.setAAD(headerLine)
  const payload: Payload = {record: relocate(record, moved) as MachineRecord, dir, files}
  const body = Buffer.concat([cipher.update(JSON.stringify(payload)), cipher.final(), cipher.getAuthTag()])
  return {bundle: Buffer.concat([headerLine, Buffer.from(body.toString('base64') + '\n')]), left}
}

function readHeader(file: string, bytes: Buffer): {header: Header; headerLine: Buffer; body: Buffer} {
  const nl = bytes.indexOf(0x0a)
  const bad = () => new UserError(`${file} is not a berth export (made by "berth export NAME > FILE")`)
  if (nl < 0) throw bad()
  const headerLine = bytes.subarray(0, nl + 1)
  let header: Header
  try {
    header = JSON.parse(headerLine.toString('utf8')) as Header
  } catch {
    throw bad()
  }
  if (header?.magic !== MAGIC) throw bad()
  if (header.version !== VERSION) throw new UserError(`${file} is a berth export of version ${header.version}; this berth reads version ${VERSION}: upgrade berth`)
  const k = header.kdf
  const okInt = (v: unknown, max: number) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max
  if (k?.name !== 'scrypt' || !okInt(k.N, MAX_N) || (k.N & (k.N - 1)) !== 0 || !okInt(k.r, 32) || !okInt(k.p, 16) || header.cipher !== 'aes-256-gcm' || typeof header.iv !== 'string' || typeof k.salt !== 'string') {
    throw new UserError(`${file}: its header is damaged or asks for parameters berth does not accept`)
  }
  return {header, headerLine, body: Buffer.from(bytes.subarray(nl + 1).toString('utf8').trim(), 'base64')}
}

/** Absolute paths among a record's strings that are not in the machine's folder. */
function outsidePaths(value: unknown, dir: string, out = new Set<string>()): Set<string> {
  if (typeof value === 'string' && path.isAbsolute(value) && value !== dir && !value.startsWith(dir + path.sep)) out.add(value)
  else if (Array.isArray(value)) for (const v of value) outsidePaths(v, dir, out)
  else if (value && typeof value === 'object') for (const v of Object.values(value)) outsidePaths(v, dir, out)
  return out
}

function relocate(value: unknown, moved: Record<string, string>): unknown {
  if (typeof value === 'string') return moved[value] ?? value
  if (Array.isArray(value)) return value.map(v => relocate(v, moved))
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, relocate(v, moved)]))
  return value
}

/** Paths inside the exporting store's machine folder, moved to this store's. */
function rebase(value: unknown, from: string, to: string): unknown {
  if (typeof value === 'string') return value === from || value.startsWith(from + path.sep) ? to + value.slice(from.length) : value
  if (Array.isArray(value)) return value.map(v => rebase(v, from, to))
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rebase(v, from, to)]))
  return value
}

/**
 * Decrypt an export and add its machine to this store. Nothing is written before the passphrase
 * is proven right and the name is known to be free; a failure while writing removes the folder.
 * The machine keeps its own CA (ca: 'machine'): this store's CA never signed its certificates.
 * It keeps its id too: drivers name what they made after it (a lab host's namespace, cloud tags).
 */
export async function importBundle(ctx: Ctx, file: string, passphrase: string): Promise<MachineRecord> {
  const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read ${file} (${err.code ?? err.message})`)
  })
  const {header, headerLine, body} = readHeader(file, bytes)
  if (body.length < 17) throw new UserError(`${file} is truncated`)
  const key = await deriveKey(passphrase, Buffer.from(header.kdf.salt, 'base64'), header.kdf)
  let payload: Payload
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(header.iv, 'base64'))
    d.setAAD(headerLine)
    d.setAuthTag(body.subarray(body.length - 16))
    payload = JSON.parse(Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8')) as Payload
  } catch {
    throw new UserError(`wrong passphrase for ${file} (or the file was changed since its export)`)
  }
  const name = payload.record?.name
  const {store} = ctx
  if (typeof name !== 'string') throw new UserError(`${file} holds no machine record`)
  if (await store.exists(name)) throw new ExistsError(`Docker machine "${name}" already exists`)
  const dir = await store.reserve(name)
  try {
    for (const [f, {mode, data}] of Object.entries(payload.files ?? {})) {
      if (f !== path.basename(f) || SKIP.has(f) || f.startsWith('.')) throw new UserError(`${file} names a file berth does not write ("${f}")`)
      await writeFileAtomic(path.join(dir, f), Buffer.from(data, 'base64'), mode & 0o644 | 0o600)
    }
    const raw = rebase({...payload.record}, payload.dir, dir) as MachineRecord
    delete raw.origin
    delete raw.pid
    const record = await parseRecord(name, JSON.stringify({
      ...raw, ca: 'machine',
      adopted: {from: 'export', source: path.resolve(file), at: new Date().toISOString(), unmapped: raw.adopted?.unmapped ?? []},
    }))
    await store.save(record)
    return record
  } catch (err) {
    await store.remove(name).catch(() => {})
    throw err
  }
}
