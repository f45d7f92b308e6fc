/**
 * The one Engine API client against a real local HTTPS server with mutual TLS (certificates from
 * src/certs): refusal without a client certificate, JSON calls and typed errors, streamed bodies
 * both ways, and a hijacked (upgraded) connection, as attach and exec start use.
 */
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import https from 'node:https'
import type net from 'node:net'
import {Readable} from 'node:stream'
import {issue, makeCA, type KeyPairPem} from '../../src/certs/index.js'
import {ConflictError, NotFoundError} from '../../src/core/index.js'
import {demux, Engine, EngineError, EngineNotFoundError, type EngineTLS} from '../../src/engine/index.js'

let ca: KeyPairPem
let client: EngineTLS
let server: https.Server
let port = 0
const seen: string[] = []
/** Ends the streamed logs once the client has read the first frame: proof it came before the end. */
let release: (() => void) | undefined

const frame = (fd: number, text: string) => {
  const body = Buffer.from(text)
  const head = Buffer.alloc(8)
  head[0] = fd
  head.writeUInt32BE(body.length, 4)
  return Buffer.concat([head, body])
}

before(async () => {
  ca = await makeCA('test')
  const srv = await issue(ca, {cn: 'engine', usage: 'server', sans: ['127.0.0.1']})
  const cli = await issue(ca, {cn: 'client', usage: 'client'})
  client = {ca: ca.certPem, cert: cli.certPem, key: cli.keyPem}
  server = https.createServer({key: srv.keyPem, cert: srv.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true}, (req, res) => {
    seen.push(`${req.method} ${req.url}`)
    const json = (status: number, body: unknown) => {
      res.writeHead(status, {'Content-Type': 'application/json'})
      res.end(JSON.stringify(body))
    }
    if (req.url === '/_ping') return res.end('OK')
    if (req.url === '/v1.41/info') return json(200, {NCPU: 2})
    if (req.url === '/containers/missing/json') return json(404, {message: 'No such container: missing'})
    if (req.url === '/containers/create?name=web') return json(409, {message: 'Conflict. The container name "/web" is already in use'})
    if (req.url === '/boom') return json(500, {message: 'rpc error: code = Unknown desc = update out of sequence'})
    if (req.url === '/echo') {
      let text = ''
      req.on('data', c => (text += c))
      req.on('end', () => json(200, {got: JSON.parse(text), type: req.headers['content-type']}))
      return
    }
    if (req.url === '/upload') {
      let n = 0
      req.on('data', (c: Buffer) => (n += c.length))
      req.on('end', () => json(200, {bytes: n, chunked: req.headers['transfer-encoding'] === 'chunked'}))
      return
    }
    if (req.url === '/logs') {
      res.writeHead(200, {'Content-Type': 'application/vnd.docker.raw-stream'})
      res.write(frame(1, 'out 1\n'))
      release = () => res.end(frame(2, 'err 2\n'))
      return
    }
    json(404, {message: 'page not found'})
  })
  server.on('upgrade', (req, socket: net.Socket) => {
    seen.push(`${req.method} ${req.url} upgrade`)
    if (req.url !== '/containers/c1/attach?stream=1') {
      const body = JSON.stringify({message: 'No such container: nope'})
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
      return
    }
    socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n')
    // An echo in capitals: what comes back proves both directions of the raw stream.
    socket.on('data', (c: Buffer) => socket.write(c.toString().toUpperCase()))
    socket.on('end', () => socket.end())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as net.AddressInfo).port
})

after(() => {
  server.closeAllConnections()
  server.close()
})

test('an engine that wants a client certificate refuses a client without one, or with one of another CA', async () => {
  const bare = new Promise((resolve, reject) => {
    const req = https.request({host: '127.0.0.1', port, path: '/_ping', ca: ca.certPem}, resolve)
    req.on('error', reject)
    req.end()
  })
  await assert.rejects(bare)
  const other = await makeCA('other')
  const stranger = await issue(other, {cn: 'stranger', usage: 'client'})
  const e = new Engine('127.0.0.1', port, {ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem})
  try {
    await assert.rejects(e.ping(2000))
  } finally {
    e.close()
  }
  const ok = new Engine('127.0.0.1', port, client)
  try {
    assert.equal(await ok.ping(), 'OK')
  } finally {
    ok.close()
  }
})

test('JSON calls: the version prefix, bodies both ways, typed errors for not found and conflict', async () => {
  const e = new Engine('127.0.0.1', port, client, '1.41')
  const plain = new Engine('127.0.0.1', port, client)
  try {
    assert.deepEqual(await e.info(), {NCPU: 2})
    assert.deepEqual(await plain.request('POST', '/echo', {Image: 'bb'}), {got: {Image: 'bb'}, type: 'application/json'})
    const missing = await plain.request('GET', '/containers/missing/json').catch(err => err)
    assert.ok(missing instanceof NotFoundError && missing instanceof EngineNotFoundError && missing instanceof EngineError)
    assert.equal(missing.statusCode, 404)
    assert.match(missing.message, /No such container: missing/)
    const taken = await plain.request('POST', '/containers/create?name=web', {}).catch(err => err)
    assert.ok(taken instanceof ConflictError && taken instanceof EngineError)
    const other = await plain.request('POST', '/boom').catch(err => err)
    assert.ok(other instanceof EngineError && !(other instanceof NotFoundError))
    assert.equal(other.statusCode, 500)
    // call() hands the engine's own answer on, whatever its status.
    const r = await plain.call<{message: string}>('GET', '/containers/missing/json')
    assert.equal(r.status, 404)
    assert.equal(r.body.message, 'No such container: missing')
  } finally {
    e.close()
    plain.close()
  }
})

test('streamed bodies: the answer is read as it comes, a request body is streamed in', async () => {
  const e = new Engine('127.0.0.1', port, client)
  try {
    const frames: string[] = []
    await demux(await e.stream('GET', '/logs'), (fd, data) => {
      frames.push(`${fd}:${data}`)
      release?.()
    })
    assert.deepEqual(frames, ['1:out 1\n', '2:err 2\n'])
    const res = await e.stream('POST', '/upload', {body: Readable.from([Buffer.alloc(1000), Buffer.alloc(24)])})
    let text = ''
    for await (const c of res) text += c
    assert.deepEqual(JSON.parse(text), {bytes: 1024, chunked: true})
  } finally {
    e.close()
  }
})

test('a hijacked connection carries raw bytes both ways; a refused upgrade is an answer', async () => {
  const e = new Engine('127.0.0.1', port, client)
  try {
    const h = await e.hijack('POST', '/containers/c1/attach?stream=1')
    assert.ok(h.upgraded)
    assert.equal(h.res.statusCode, 101)
    const back = new Promise<string>(resolve => h.socket.once('data', (c: Buffer) => resolve(c.toString())))
    h.socket.write('hello')
    assert.equal(await back, 'HELLO')
    h.socket.destroy()
    const refused = await e.hijack('POST', '/containers/nope/attach')
    assert.ok(!refused.upgraded)
    assert.equal(refused.res.statusCode, 404)
    refused.res.resume()
  } finally {
    e.close()
  }
})

test('waitReady returns once the engine answers, and names the engine when it never does', async () => {
  const e = new Engine('127.0.0.1', port, client)
  await e.waitReady(5000)
  e.close()
  const closed = https.createServer()
  await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
  const freePort = (closed.address() as net.AddressInfo).port
  await new Promise(resolve => closed.close(resolve))
  const gone = new Engine('127.0.0.1', freePort, client)
  await assert.rejects(gone.waitReady(600), new RegExp(`Docker engine at 127.0.0.1:${freePort} did not answer over TLS within 1 s`))
  gone.close()
})
