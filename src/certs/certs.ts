import 'reflect-metadata'
import {promises as fs} from 'node:fs'
import {isIP} from 'node:net'
import path from 'node:path'
import {createHash, webcrypto} from 'node:crypto'
import * as x509 from '@peculiar/x509'
import {exists, mkdirPrivate, writeFileAtomic, acquireLock, UserError} from '../core/index.js'

x509.cryptoProvider.set(globalThis.crypto)

const ALG = {name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256'} as const
const subtle = webcrypto.subtle

export interface KeyPairPem {
  certPem: string
  keyPem: string
}

async function newKeys(): Promise<CryptoKeyPair> {
  return subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key)
  return x509.PemConverter.encode(der, 'PRIVATE KEY')
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0]
  return subtle.importKey('pkcs8', der, ALG, true, ['sign']) as Promise<CryptoKey>
}

function serial(): string {
  // Positive 128-bit serial: a leading 01 keeps the DER integer from reading negative.
  return '01' + Buffer.from(webcrypto.getRandomValues(new Uint8Array(15))).toString('hex')
}

function validity(years: number): {notBefore: Date; notAfter: Date} {
  const notBefore = new Date(Date.now() - 5 * 60_000) // tolerate small clock skew between hosts
  const notAfter = new Date(notBefore)
  notAfter.setFullYear(notAfter.getFullYear() + years)
  return {notBefore, notAfter}
}

export async function makeCA(org: string): Promise<KeyPairPem> {
  const keys = await newKeys()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${org} CA,O=${org}`,
    ...validity(10),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return {certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey)}
}

export async function issue(ca: KeyPairPem, opts: {cn: string; usage: 'server' | 'client'; sans?: string[]}): Promise<KeyPairPem> {
  const keys = await newKeys()
  const caCert = new x509.X509Certificate(ca.certPem)
  const caKey = await importKey(ca.keyPem)
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([opts.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ]
  if (opts.sans?.length) {
    extensions.push(new x509.SubjectAlternativeNameExtension(opts.sans.map(s => ({type: (isIP(s) ? 'ip' : 'dns') as x509.GeneralNameType, value: s}))))
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${opts.cn}`,
    issuer: caCert.subject,
    ...validity(3),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions,
  })
  return {certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey)}
}

/** SAN entries (IPs and names) of a PEM certificate. */
export function certSans(certPem: string): string[] {
  const cert = new x509.X509Certificate(certPem)
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension)
  if (!ext) return []
  return ext.names.items.map(n => n.value)
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

/**
 * The store-wide CA and client certificate, made once. Parallel berth processes race here
 * on a fresh store, so creation is under a lock and every file is written atomically.
 */
export async function ensureStoreCerts(certsDir: string): Promise<StoreCerts> {
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
  try {
    new x509.X509Certificate(ca.certPem)
  } catch {
    throw new UserError(`the store CA certificate ${p.caPath} is damaged (truncated?): ${NEW_CA}`)
  }
  try {
    await importKey(ca.keyPem)
  } catch {
    throw new UserError(`the store CA key ${p.caKeyPath} is damaged (truncated?): ${NEW_CA}`)
  }
  return ca
}
