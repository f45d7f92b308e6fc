/**
 * The few X.509 v3 certificates berth makes (a CA, server and client certificates, ECDSA P-256),
 * written as DER with node:crypto doing keys and signatures. The issuer may also hold an RSA key:
 * docker-machine's CAs are RSA 2048 (its users bring them with MACHINE_TLS_CA_KEY, its stores
 * keep theirs), so those certificates are signed RSA-SHA256, PKCS#1 v1.5, as Go's crypto/x509 does. A general X.509 library cost more
 * CPU to load than all of a lab host's certificate work (the issue 16 profile): what berth needs
 * is one fixed shape, encoded here and checked by node's own X509Certificate in the tests.
 */
import {createHash, generateKeyPair, type KeyObject, sign} from 'node:crypto'
import {isIPv4} from 'node:net'
import {promisify} from 'node:util'

const generateKeyPairP = promisify(generateKeyPair)

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts)
  return Buffer.concat([Buffer.from([tag]), len(body.length), body])
}
const seq = (...p: Buffer[]) => tlv(0x30, ...p)
const set = (...p: Buffer[]) => tlv(0x31, ...p)
const octets = (b: Buffer) => tlv(0x04, b)
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), b)
const explicit = (n: number, b: Buffer) => tlv(0xa0 + n, b)
const TRUE = tlv(0x01, Buffer.from([0xff]))
const NULL = Buffer.from([0x05, 0x00])

function int(b: Buffer): Buffer {
  let i = 0
  while (i < b.length - 1 && b[i] === 0 && !(b[i + 1] & 0x80)) i++
  const v = b.subarray(i)
  return tlv(0x02, v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v)
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number)
  const out = [40 * arcs[0] + arcs[1]]
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f]
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f))
    out.push(...chunk)
  }
  return tlv(0x06, Buffer.from(out))
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso))
}

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2', rsaSha256: '1.2.840.113549.1.1.11', cn: '2.5.4.3', o: '2.5.4.10',
  basicConstraints: '2.5.29.19', keyUsage: '2.5.29.15', extKeyUsage: '2.5.29.37', ski: '2.5.29.14', aki: '2.5.29.35', san: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2',
}

const ext = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [TRUE] : []), octets(value))
const name = (cn: string, org?: string) => seq(
  ...(org ? [set(seq(oid(OID.o), tlv(0x0c, Buffer.from(org))))] : []),
  set(seq(oid(OID.cn), tlv(0x0c, Buffer.from(cn)))),
)

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number))
  const [head, tail] = ip.split('::')
  const groups = (s?: string) => (s ? s.split(':') : [])
  const h = groups(head)
  const t = groups(tail)
  const all = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  return Buffer.concat(all.map(g => {
    const b = Buffer.alloc(2)
    b.writeUInt16BE(parseInt(g, 16))
    return b
  }))
}

/** One element of DER at `at`: where its value starts and where it ends. */
function element(der: Buffer, at: number): {start: number; end: number} {
  let n = der[at + 1]
  let start = at + 2
  if (n & 0x80) {
    const k = n & 0x7f
    n = 0
    for (let i = 0; i < k; i++) n = n * 256 + der[start + i]
    start += k
  }
  return {start, end: start + n}
}

function children(der: Buffer, el: {start: number; end: number}): Array<{at: number; start: number; end: number}> {
  const out = []
  for (let at = el.start; at < el.end;) {
    const e = element(der, at)
    out.push({at, ...e})
    at = e.end
  }
  return out
}

/** The public key bits of an SPKI: what a key identifier is the SHA-1 of (RFC 5280 4.2.1.2). */
function keyId(spki: Buffer): Buffer {
  const [, key] = children(spki, element(spki, 0))
  return createHash('sha1').update(spki.subarray(key.start + 1, key.end)).digest()
}

export interface Signer {
  /** DER of the issuer's subject, copied byte for byte into what it signs. */
  subject: Buffer
  keyId: Buffer
  key: KeyObject
}

/** The parts of a CA certificate (DER) an issuer needs: its subject, as it is, and its key's ID. */
export function signerOf(certDer: Buffer, key: KeyObject): Signer {
  const [tbs] = children(certDer, element(certDer, 0))
  const f = children(certDer, tbs)
  // [0] version, serial, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo.
  const subject = f[5]
  const spki = f[6]
  return {subject: certDer.subarray(subject.at, subject.end), keyId: keyId(certDer.subarray(spki.at, spki.end)), key}
}

export interface CertSpec {
  cn: string
  org?: string
  serial: Buffer
  notBefore: Date
  notAfter: Date
  ca?: boolean
  usage?: 'server' | 'client'
  sans?: string[]
}

/**
 * The AlgorithmIdentifier of the issuer's signature. RFC 4055 asks for explicit NULL parameters
 * with sha256WithRSAEncryption; RFC 5758, for none with ECDSA. Other keys (DSA, Ed25519, RSA-PSS)
 * are refused here, with a name, rather than signed into a certificate no engine accepts.
 */
export function signatureAlgorithm(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'ec') return seq(oid(OID.ecdsaSha256))
  if (key.asymmetricKeyType === 'rsa') return seq(oid(OID.rsaSha256), NULL)
  const curve = key.asymmetricKeyDetails?.namedCurve
  throw new Error(`unsupported CA key type ${key.asymmetricKeyType}${curve ? ` (${curve})` : ''}: berth signs with RSA or ECDSA keys`)
}

export const newKeyPair = () => generateKeyPairP('ec', {namedCurve: 'prime256v1'})

/** A certificate for `publicKey`, signed by `signer` (or by its own key for a CA: self-signed). */
export function certificate(spec: CertSpec, publicKey: KeyObject, signer?: Signer, selfKey?: KeyObject): Buffer {
  const spki = publicKey.export({type: 'spki', format: 'der'})
  const subject = name(spec.cn, spec.org)
  const own = keyId(spki)
  const extensions = spec.ca
    ? [
        ext(OID.basicConstraints, true, seq(TRUE, int(Buffer.from([0])))),
        // digitalSignature, keyCertSign, cRLSign: bits 0, 5 and 6.
        ext(OID.keyUsage, true, bits(Buffer.from([0x86]), 1)),
        ext(OID.ski, false, octets(own)),
      ]
    : [
        ext(OID.basicConstraints, true, seq()),
        // digitalSignature, keyEncipherment: bits 0 and 2.
        ext(OID.keyUsage, true, bits(Buffer.from([0xa0]), 5)),
        ext(OID.extKeyUsage, false, seq(oid(spec.usage === 'server' ? OID.serverAuth : OID.clientAuth))),
        ext(OID.aki, false, seq(tlv(0x80, signer!.keyId))),
        ...(spec.sans?.length ? [ext(OID.san, false, seq(...spec.sans.map(s => /^[\d.]+$|:/.test(s) ? tlv(0x87, ipBytes(s)) : tlv(0x82, Buffer.from(s)))))] : []),
      ]
  const key = signer ? signer.key : selfKey!
  const alg = signatureAlgorithm(key)
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))),
    int(spec.serial),
    alg,
    signer ? signer.subject : subject,
    seq(time(spec.notBefore), time(spec.notAfter)),
    subject,
    spki,
    explicit(3, seq(...extensions)),
  )
  // For an RSA key node signs PKCS#1 v1.5 unless told otherwise (RSA_PKCS1_PADDING): what the OID says.
  const signature = sign('sha256', tbs, key)
  return seq(tbs, alg, bits(signature))
}

export function pem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`
}

export function unpem(text: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(text)
  if (!m) throw new Error('no PEM certificate')
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64')
}
