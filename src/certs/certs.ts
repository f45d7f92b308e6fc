import {promises as fs} from 'node:fs'
import path from 'node:path'
import {createHash, createPrivateKey, createPublicKey, randomBytes, X509Certificate} from 'node:crypto'
import {exists, mkdirPrivate, writeFileAtomic, acquireLock, UserError} from '../core/index.js'
import {certificate, newKeyPair, pem, type Signer, signatureAlgorithm, signerOf, unpem} from './der.js'

export interface KeyPairPem {
  certPem: string
  keyPem: string
}

function serial(): Buffer {
  // Positive 128-bit serial: a leading 01 keeps the DER integer from reading negative.
  return Buffer.concat([Buffer.from([1]), randomBytes(15)])
}

function validity(years: number): {notBefore: Date; notAfter: Date} {
  const notBefore = new Date(Math.floor((Date.now() - 5 * 60_000) / 1000) * 1000) // tolerate small clock skew between hosts
  const notAfter = new Date(notBefore)
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + years)
  return {notBefore, notAfter}
}

export async function makeCA(org: string): Promise<KeyPairPem> {
  const {publicKey, privateKey} = await newKeyPair()
  const der = certificate({cn: `${org} CA`, org, serial: serial(), ...validity(10), ca: true}, publicKey, undefined, privateKey)
  return {certPem: pem(der, 'CERTIFICATE'), keyPem: privateKey.export({type: 'pkcs8', format: 'pem'}).toString()}
}

/*
 * A create issues one certificate per host from the same CA: parsing it each time cost more than
 * the signature. Keyed by the PEMs themselves, so a replaced CA is parsed afresh.
 */
const signers = new Map<string, Signer>()

function signerFor(ca: KeyPairPem): Signer {
  const k = ca.certPem + ca.keyPem
  let s = signers.get(k)
  if (!s) {
    s = signerOf(unpem(ca.certPem), createPrivateKey(ca.keyPem))
    signers.set(k, s)
  }
  return s
}

export async function issue(ca: KeyPairPem, opts: {cn: string; usage: 'server' | 'client'; sans?: string[]}): Promise<KeyPairPem> {
  const {publicKey, privateKey} = await newKeyPair()
  const der = certificate({cn: opts.cn, serial: serial(), ...validity(3), usage: opts.usage, sans: opts.sans}, publicKey, signerFor(ca))
  return {certPem: pem(der, 'CERTIFICATE'), keyPem: privateKey.export({type: 'pkcs8', format: 'pem'}).toString()}
}

/** SAN entries (IPs and names) of a PEM certificate. */
export function certSans(certPem: string): string[] {
  const sans = new X509Certificate(certPem).subjectAltName
  if (!sans) return []
  return sans.split(', ').map(e => e.replace(/^(DNS|IP Address):/, ''))
}

export interface StoreCerts {
  caPath: string
  caKeyPath: string
  certPath: string
  keyPath: string
}

export function storeCertPaths(certsDir: string): StoreCerts {
  return {
    caPath: path.join(certsDir, 'ca.pem'),
    caKeyPath: path.join(certsDir, 'ca-key.pem'),
    certPath: path.join(certsDir, 'cert.pem'),
    keyPath: path.join(certsDir, 'key.pem'),
  }
}

async function writeStoreCerts(p: StoreCerts): Promise<void> {
  const ca = await makeCA('berth')
  const client = await issue(ca, {cn: 'berth-client', usage: 'client'})
  await writeFileAtomic(p.caPath, ca.certPem)
  await writeFileAtomic(p.caKeyPath, ca.keyPem)
  await writeFileAtomic(p.certPath, client.certPem)
  // key.pem last: its presence marks the set complete.
  await writeFileAtomic(p.keyPath, client.keyPem)
}

const storeLock = async (certsDir: string) => {
  await mkdirPrivate(certsDir)
  return acquireLock(path.join(certsDir, '.lock'), {timeoutMs: 120_000, what: 'the store certificates'})
}

/** One look (and at most one lock) per store at a time in this process, whatever the number of creates. */
const ensuring = new Map<string, Promise<StoreCerts>>()

/**
 * The store-wide CA and client certificate, made once. Parallel berth processes race here
 * on a fresh store, so creation is under a lock and every file is written atomically. A CA
 * that exists is read without the lock; the lock is only taken to make one. The creates of one
 * process share one look: a hundred of them each taking the lock in turn, behind a thread pool
 * busy with their record writes, timed the last ones out (the 100-machine Azure create).
 */
export function ensureStoreCerts(certsDir: string): Promise<StoreCerts> {
  const key = path.resolve(certsDir)
  let p = ensuring.get(key)
  if (!p) {
    p = ensureOnce(certsDir)
    ensuring.set(key, p)
    // Only while in flight: a later call looks again (the store may have been cleared since).
    void p.finally(() => ensuring.delete(key)).catch(() => {})
  }
  return p
}

async function ensureOnce(certsDir: string): Promise<StoreCerts> {
  const p = storeCertPaths(certsDir)
  if (await exists(p.keyPath)) return p
  const lock = await storeLock(certsDir)
  try {
    if (!await exists(p.keyPath)) await writeStoreCerts(p)
    return p
  } finally {
    await lock.release()
  }
}

/** Which CA the store holds now (its certificate's digest), to tell later whether another replaced it. */
export async function storeCAStamp(certsDir: string): Promise<string | undefined> {
  const pem = await fs.readFile(storeCertPaths(certsDir).caPath).catch(() => undefined)
  return pem && createHash('sha256').update(pem).digest('hex')
}

/**
 * Run `fn` with the store CA held under the store-wide lock: nothing replaces the CA while a
 * machine's certificates are issued from it. With `replace`, first make a new CA and client
 * certificate, unless the CA on disk is no longer `replace.seen`: another berth replaced it after
 * this one looked, so two `regenerate-certs --client-certs` asked at once make one CA, not two.
 */
export async function withStoreCA<T>(certsDir: string, fn: () => Promise<T>, replace?: {seen: string | undefined}): Promise<T> {
  const lock = await storeLock(certsDir)
  try {
    const p = storeCertPaths(certsDir)
    if (replace ? await storeCAStamp(certsDir) === replace.seen : !await exists(p.keyPath)) await writeStoreCerts(p)
    return await fn()
  } finally {
    await lock.release()
  }
}

const NEW_CA = 'restore it, or make a new CA with "berth regenerate-certs -f --client-certs" (then regenerate-certs every machine)'

/** The store CA, checked here: a damaged file is named, not left to fail deep in WebCrypto. */
export async function loadCA(certsDir: string): Promise<KeyPairPem> {
  const p = storeCertPaths(certsDir)
  const read = (file: string, what: string) => fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read the store CA ${what} ${file} (${err.code ?? 'unreadable'}): ${NEW_CA}`)
  })
  const ca = {certPem: await read(p.caPath, 'certificate'), keyPem: await read(p.caKeyPath, 'key')}
  // Checked once per CA in this process (every host of a create loads it).
  if (signers.has(ca.certPem + ca.keyPem)) return ca
  let cert: X509Certificate
  try {
    cert = new X509Certificate(ca.certPem)
  } catch {
    throw new UserError(`the store CA certificate ${p.caPath} is damaged (truncated?): ${NEW_CA}`)
  }
  let key
  try {
    key = createPrivateKey(ca.keyPem)
    // A key that is not the certificate's would sign certificates no engine accepts.
    if (!createPublicKey(key).export({type: 'spki', format: 'der'}).equals(cert.publicKey.export({type: 'spki', format: 'der'}))) throw new Error('mismatch')
  } catch {
    throw new UserError(`the store CA key ${p.caKeyPath} is damaged (truncated?): ${NEW_CA}`)
  }
  try {
    signatureAlgorithm(key)
  } catch (err) {
    throw new UserError(`the store CA key ${p.caKeyPath}: ${(err as Error).message}`)
  }
  signerFor(ca)
  return ca
}
