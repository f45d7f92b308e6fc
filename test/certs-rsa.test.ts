/**
 * A CA of docker-machine's kind (RSA 2048, its key in PKCS#1, made by openssl as docker-machine's
 * Go code makes one): berth issues server and client certificates from it that openssl and node
 * both verify, and that a mutual-TLS handshake accepts next to a client certificate openssl made.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {X509Certificate} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {issue, loadCA} from '../src/certs/certs.js'
import {tmpDir} from './helpers.js'
import {tlsEcho} from './tls-echo.js'

const openssl = (args: string[], cwd: string, input?: string) => execFileSync('openssl', args, {cwd, input, stdio: ['pipe', 'pipe', 'pipe']}).toString()

/** An RSA CA as docker-machine's store holds one, and a client certificate openssl signed with it. */
function rsaStore(): string {
  const dir = tmpDir('rsaca')
  openssl(['genrsa', '-traditional', '-out', 'ca-key.pem', '2048'], dir)
  openssl(['req', '-x509', '-new', '-key', 'ca-key.pem', '-out', 'ca.pem', '-days', '30', '-subj', '/O=root'], dir)
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'c.csr', '-subj', '/O=root.<bootstrap>'], dir)
  writeFileSync(path.join(dir, 'ext.cnf'), 'extendedKeyUsage=clientAuth\n')
  openssl(['x509', '-req', '-in', 'c.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'cert.pem', '-days', '30', '-extfile', 'ext.cnf'], dir)
  return dir
}

test('an RSA CA signs RSA-SHA256 (PKCS#1 v1.5) certificates that openssl verifies', async () => {
  const dir = rsaStore()
  assert.match(readFileSync(path.join(dir, 'ca-key.pem'), 'utf8'), /BEGIN RSA PRIVATE KEY/, 'the PKCS#1 form docker-machine writes')
  const ca = await loadCA(dir)
  const server = await issue(ca, {cn: 'n1', usage: 'server', sans: ['10.1.2.3', 'localhost']})
  const client = await issue(ca, {cn: 'c', usage: 'client'})
  for (const [name, pem] of [['server.pem', server.certPem], ['client.pem', client.certPem]] as const) {
    writeFileSync(path.join(dir, name), pem)
    assert.equal(openssl(['verify', '-CAfile', 'ca.pem', name], dir).trim(), `${name}: OK`)
    const text = openssl(['x509', '-in', name, '-noout', '-text'], dir)
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/)
    assert.ok(new X509Certificate(pem).verify(new X509Certificate(ca.certPem).publicKey))
  }
  // The issuer is the CA's subject, byte for byte, and the purpose as asked.
  assert.equal(new X509Certificate(server.certPem).issuer, new X509Certificate(ca.certPem).subject)
  assert.match(openssl(['x509', '-in', 'server.pem', '-noout', '-ext', 'extendedKeyUsage,subjectAltName'], dir), /TLS Web Server Authentication[\s\S]*IP Address:10\.1\.2\.3/)
})

test('mutual TLS between a berth-issued server certificate and openssl\'s client certificate of the same RSA CA', async () => {
  const dir = rsaStore()
  const ca = await loadCA(dir)
  const server = await issue(ca, {cn: 's', usage: 'server', sans: ['127.0.0.1']})
  const berthClient = await issue(ca, {cn: 'c', usage: 'client'})
  const {talk, close} = await tlsEcho(server, ca.certPem)
  try {
    assert.equal(await talk({cert: readFileSync(path.join(dir, 'cert.pem')), key: readFileSync(path.join(dir, 'key.pem'))}), 'hi')
    assert.equal(await talk({cert: berthClient.certPem, key: berthClient.keyPem}), 'hi')
    // A client certificate of another RSA CA is refused (TLS 1.3 tells the client after its handshake: an error or an empty close).
    const other = rsaStore()
    assert.notEqual(await talk({cert: readFileSync(path.join(other, 'cert.pem')), key: readFileSync(path.join(other, 'key.pem'))}).catch(() => 'refused'), 'hi')
  } finally {
    close()
  }
})

test('a CA key berth cannot sign with is named, not signed into a broken certificate', async () => {
  const dir = tmpDir('edca')
  openssl(['genpkey', '-algorithm', 'ed25519', '-out', 'ca-key.pem'], dir)
  openssl(['req', '-x509', '-new', '-key', 'ca-key.pem', '-out', 'ca.pem', '-days', '30', '-subj', '/O=root'], dir)
  await assert.rejects(loadCA(dir), /ca-key\.pem: unsupported CA key type ed25519: berth signs with RSA or ECDSA keys/)
})
