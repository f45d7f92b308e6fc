/**
 * The manage endpoint's routing over real HTTPS with mutual TLS: which Docker API paths reach
 * which handler, what goes through to the engine holding the container (and with which version
 * prefix), 501 for the rest. The engine is a small HTTPS server in this test, reached through a
 * fake driver; it serves only the few answers the endpoint reads.
 */
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {promises as fs} from 'node:fs'
import https from 'node:https'
import type net from 'node:net'
import path from 'node:path'
import {ensureStoreCerts, issue, loadCA} from '../../src/certs/index.js'
import type {Driver} from '../../src/sdk/index.js'
import {ManageEndpoint, route, upgradeRoute} from '../../src/manage/index.js'
import {SCHEMA_VERSION, Store, type MachineRecord} from '../../src/store/index.js'
import {ROOT, tmpDir} from '../helpers.js'

const ID = 'c1'.repeat(32)
const seen: string[] = []
let engine: https.Server
let ep: ManageEndpoint
let agent: https.Agent
let release: (() => void) | undefined

function fakeEngine(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  seen.push(`${req.method} ${req.url}`)
  const p = new URL(req.url ?? '/', 'http://e').pathname.replace(/^\/v[\d.]+/, '')
  const json = (status: number, body: unknown) => {
    res.writeHead(status, {'Content-Type': 'application/json'})
    res.end(JSON.stringify(body))
  }
  if (p === '/_ping') {
    res.end('OK')
    return
  }
  if (p === '/info') return json(200, {ID: 'E1', NCPU: 2, MemTotal: 2 ** 32, Labels: ['region=lab'], ServerVersion: '20.10.24'})
  if (p === '/version') return json(200, {ApiVersion: '1.41'})
  if (p === '/containers/json') return json(200, [{Id: ID, Names: ['/web'], Image: 'bb:v1', State: 'running', Status: 'Up', Created: 1, Ports: []}])
  if (p === '/images/json') return json(200, [{Id: 'sha256:' + 'ab'.repeat(32), RepoTags: ['bb:v1'], Created: 1, Size: 1}])
  if (p === `/containers/${ID}/json`) return json(200, {Id: ID, Name: '/web', HostConfig: {}})
  if (p === '/containers/create') return json(201, {Id: 'ee'.repeat(32), Warnings: []})
  if (p === `/containers/${ID}/exec`) return json(201, {Id: 'x1'})
  if (p === `/containers/${ID}/logs`) {
    // Follows until the client has read the first frame: proof the endpoint relays as it comes.
    res.writeHead(200, {'Content-Type': 'application/vnd.docker.raw-stream'})
    res.write('first\n')
    release = () => res.end('second\n')
    return
  }
  res.writeHead(204)
  res.end()
}

before(async () => {
  const store = new Store(tmpDir('manage'))
  const certs = await ensureStoreCerts(store.certsDir)
  const ca = await loadCA(store.certsDir)
  const srv = await issue(ca, {cn: 'engine', usage: 'server', sans: ['127.0.0.1']})
  engine = https.createServer({key: srv.keyPem, cert: srv.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true}, fakeEngine)
  engine.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    seen.push(`${req.method} ${req.url} upgrade`)
    socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n')
    // An echo in capitals, of the request body (exec start's JSON) too.
    if (head.length) socket.write(head.toString().toUpperCase())
    socket.on('data', (c: Buffer) => socket.write(c.toString().toUpperCase()))
  })
  await new Promise<void>(resolve => engine.listen(0, '127.0.0.1', resolve))
  const port = (engine.address() as net.AddressInfo).port
  const dir = await store.reserve('m1')
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) await fs.copyFile(path.join(store.certsDir, f), path.join(dir, f))
  const record: MachineRecord = {
    schemaVersion: SCHEMA_VERSION, name: 'm1', id: 'abcdef012345', driver: 'fake', createdAt: new Date().toISOString(), status: 'ready',
    driverData: {}, ssh: {}, engine: {port, installUrl: 'auto', labels: [], insecureRegistries: [], registryMirrors: [], opts: [], env: [], tlsSans: []},
    swarm: {name: 's1', manager: true, labels: {}},
  }
  await store.save(record)
  const driver = {ip: async () => '127.0.0.1', enginePort: () => port} as Partial<Driver> as Driver
  const ctx = {store, drivers: {fake: {flags: [], description: 'an engine in this test', load: async () => driver}}}
  ep = await ManageEndpoint.start(ctx, {swarm: 's1', strategy: 'spread', host: '127.0.0.1', port: 0})
  agent = new https.Agent({ca: ca.certPem, cert: readFileSync(certs.certPath), key: readFileSync(certs.keyPath)})
})

after(async () => {
  agent.destroy()
  await ep.close()
  engine.closeAllConnections()
  engine.close()
})

function call(method: string, p: string, body?: unknown): Promise<{status: number; body: any; headers: import('node:http').IncomingHttpHeaders}> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  return new Promise((resolve, reject) => {
    const req = https.request({host: '127.0.0.1', port: ep.port, method, path: p, agent, headers: data ? {'Content-Type': 'application/json', 'Content-Length': String(data.length)} : {}}, res => {
      let text = ''
      res.on('data', c => (text += c))
      res.on('end', () => {
        let parsed: unknown = text
        try {
          parsed = text ? JSON.parse(text) : undefined
        } catch { /* plain text */ }
        resolve({status: res.statusCode ?? 0, body: parsed, headers: res.headers})
      })
    })
    req.on('error', reject)
    req.end(data)
  })
}

/** What reached the engine while `fn` ran. */
async function upstream(fn: () => Promise<unknown>): Promise<string[]> {
  const from = seen.length
  await fn()
  return seen.slice(from)
}

test('the route table: the calls served, passed through, or refused', () => {
  assert.deepEqual(route('GET', '/_ping'), {kind: 'ping'})
  assert.deepEqual(route('HEAD', '/_ping'), {kind: 'ping'})
  assert.deepEqual(route('POST', '/containers/create'), {kind: 'create'})
  assert.deepEqual(route('GET', '/containers/web/json'), {kind: 'container', ref: 'web', op: 'json'})
  assert.deepEqual(route('POST', '/containers/m1/web/stop'), {kind: 'container', ref: 'm1/web', op: 'stop'})
  assert.deepEqual(route('DELETE', '/containers/web'), {kind: 'remove', ref: 'web'})
  assert.deepEqual(route('POST', '/exec/x1/resize'), {kind: 'exec', id: 'x1', op: 'resize'})
  assert.deepEqual(route('GET', '/images/bb:v1/json'), {kind: 'image', ref: 'bb:v1'})
  assert.deepEqual(route('GET', '/volumes/data'), {kind: 'volume', ref: 'data'})
  assert.deepEqual(route('DELETE', '/volumes/data'), {kind: 'volume-remove', ref: 'data'})
  assert.deepEqual(route('POST', '/volumes/create'), {kind: 'volume-create'})
  assert.deepEqual(route('GET', '/networks'), {kind: 'networks'})
  assert.deepEqual(route('GET', '/networks/app_default'), {kind: 'network', ref: 'app_default'})
  assert.deepEqual(route('POST', '/networks/app_default/connect'), {kind: 'network-connect', ref: 'app_default', op: 'connect'})
  assert.deepEqual(route('POST', '/build'), {kind: 'build'})
  assert.deepEqual(route('GET', '/events'), {kind: 'events'})
  assert.deepEqual(route('POST', '/images/load'), {kind: 'load'})
  // Image names hold slashes and a registry's port.
  assert.deepEqual(route('POST', '/images/10.0.0.1:5000/app/push'), {kind: 'image-push', ref: '10.0.0.1:5000/app'})
  assert.deepEqual(route('POST', '/images/bb:v1/tag'), {kind: 'image-tag', ref: 'bb:v1'})
  assert.deepEqual(route('DELETE', '/images/10.0.0.1:5000/app:1'), {kind: 'image-remove', ref: '10.0.0.1:5000/app:1'})
  assert.deepEqual(route('GET', '/images/bb:v1/get'), {kind: 'image-get', ref: 'bb:v1'})
  assert.deepEqual(route('GET', '/plugins/x'), {kind: 'other', what: 'plugins', name: 'x'})
  for (const [m, p] of [['GET', '/plugins'], ['POST', '/networks/prune'], ['POST', '/images/bb:v1/json'], ['POST', '/containers/web/frobnicate'], ['POST', '/containers/json'], ['GET', '/containers/create']]) {
    assert.deepEqual(route(m, p), {kind: 'unsupported'}, `${m} ${p}`)
  }
  assert.deepEqual(upgradeRoute('/containers/web/attach'), {kind: 'attach', ref: 'web'})
  assert.deepEqual(upgradeRoute('/exec/x1/start'), {kind: 'exec-start', id: 'x1'})
  assert.equal(upgradeRoute('/containers/web/logs'), undefined)
})

test('ping, version and info are the endpoint\'s own; an old API version is refused', async () => {
  const ping = await call('GET', '/_ping')
  assert.equal(ping.status, 200)
  assert.equal(ping.body, 'OK')
  assert.equal(ping.headers['api-version'], '1.41')
  const version = await call('GET', '/v1.41/version')
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}
  assert.equal(version.body.Version, `berth/${pkg.version}`)
  assert.deepEqual(version.body.Components.map((c: {Name: string}) => c.Name), ['Engine', 'm1'])
  const info = await call('GET', '/info')
  assert.equal(info.body.ServerVersion, `berth/${pkg.version}`)
  assert.ok(info.body.SystemStatus.some(([k, v]: [string, string]) => k === 'Strategy' && v === 'spread'))
  const old = await call('GET', '/v1.12/containers/json')
  assert.equal(old.status, 400)
  assert.match(old.body.message, /too old/)
})

test('ps and images are merged; a container is found by name or machine/name and its calls reach its engine', async () => {
  const ps = await call('GET', '/v1.41/containers/json')
  assert.equal(ps.status, 200)
  assert.deepEqual(ps.body.map((c: {Names: string[]}) => c.Names), [['/m1/web']])
  const images = await call('GET', '/v1.41/images/json')
  assert.deepEqual(images.body.map((i: {RepoTags: string[]}) => i.RepoTags), [['bb:v1']])
  const inspect = await call('GET', '/v1.41/containers/web/json')
  assert.equal(inspect.body.Node.Name, 'm1')
  // A name is looked up in the engines' lists, then the call goes to the holder by full id.
  assert.deepEqual(await upstream(() => call('POST', '/v1.41/containers/web/stop?t=1')), ['GET /containers/json?all=1', `POST /v1.41/containers/${ID}/stop?t=1`])
  // A full id seen before needs no lookup; no version from the client, none to the engine.
  assert.deepEqual(await upstream(() => call('POST', `/containers/${ID}/start`)), [`POST /containers/${ID}/start`])
  assert.deepEqual(await upstream(() => call('POST', '/v1.41/containers/m1/web/restart')), ['GET /containers/json?all=1', `POST /v1.41/containers/${ID}/restart`])
  // A client newer than the engine speaks the engine's version.
  assert.deepEqual(await upstream(() => call('DELETE', `/v1.45/containers/${ID.slice(0, 12)}?force=1`)), ['GET /containers/json?all=1', `DELETE /v1.41/containers/${ID}?force=1`])
  const missing = await call('GET', '/v1.41/containers/nope/json')
  assert.equal(missing.status, 404)
  assert.match(missing.body.message, /No such container: nope/)
})

test('create is placed on a machine holding the image; exec ids route later exec calls', async () => {
  const created = await upstream(async () => {
    const r = await call('POST', '/v1.41/containers/create?name=api', {Image: 'bb:v1'})
    assert.equal(r.status, 201)
    assert.equal(r.body.Id, 'ee'.repeat(32))
  })
  assert.ok(created.includes('POST /v1.41/containers/create?name=api'), created.join('\n'))
  const exec = await call('POST', '/v1.41/containers/web/exec', {Cmd: ['sh']})
  assert.equal(exec.body.Id, 'x1')
  assert.deepEqual(await upstream(() => call('POST', '/v1.41/exec/x1/resize?h=1&w=1')), ['POST /v1.41/exec/x1/resize?h=1&w=1'])
  const unknown = await call('GET', '/v1.41/exec/nope/json')
  assert.equal(unknown.status, 404)
})

test('logs -f is streamed through as it comes', async () => {
  const chunks: string[] = []
  await new Promise<void>((resolve, reject) => {
    const req = https.request({host: '127.0.0.1', port: ep.port, path: '/v1.41/containers/web/logs?follow=1&stdout=1', agent}, res => {
      assert.equal(res.statusCode, 200)
      res.on('data', (c: Buffer) => {
        chunks.push(c.toString())
        release?.()
      })
      res.on('end', resolve)
    })
    req.on('error', reject)
    req.end()
  })
  assert.deepEqual(chunks, ['first\n', 'second\n'])
})

test('a create whose image no machine has is placed first, then the image is pulled there', async () => {
  const sent = await upstream(async () => {
    const r = await call('POST', '/v1.41/containers/create', {Image: 'other:2'})
    assert.equal(r.status, 201, JSON.stringify(r.body))
  })
  const pull = sent.indexOf('POST /images/create?fromImage=other%3A2')
  assert.ok(pull >= 0 && pull < sent.indexOf('POST /v1.41/containers/create'), sent.join('\n'))
})

test('a volume is announced at create and made on the machine of the first container that mounts it', async () => {
  const v = await call('POST', '/v1.41/volumes/create', {Name: 'data', Labels: {app: 'x'}})
  assert.equal(v.status, 201)
  assert.deepEqual([v.body.Name, v.body.Driver, v.body.Labels], ['data', 'local', {app: 'x'}])
  const seenAt = await call('GET', '/v1.41/volumes/data')
  assert.equal(seenAt.body.Name, 'data')
  const sent = await upstream(() => call('POST', '/v1.41/containers/create', {Image: 'bb:v1', HostConfig: {Binds: ['data:/d']}}))
  const made = sent.indexOf('POST /volumes/create')
  assert.ok(made >= 0 && made < sent.indexOf('POST /v1.41/containers/create'), sent.join('\n'))
  const gone = await call('DELETE', '/v1.41/volumes/nope')
  assert.equal(gone.status, 404)
})

test('docker pull reaches every engine, its progress tagged with the machine', async () => {
  const sent = await upstream(async () => {
    const r = await call('POST', '/v1.41/images/create?fromImage=nginx&tag=1')
    assert.equal(r.status, 200)
  })
  assert.deepEqual(sent, ['POST /v1.41/images/create?fromImage=nginx%3A1'])
})

test('everything else answers 501, or "no such" for docker inspect', async () => {
  for (const [m, p] of [['GET', '/v1.41/plugins'], ['POST', '/v1.41/swarm/init']]) {
    const r = await call(m, p)
    assert.equal(r.status, 501, `${m} ${p}`)
    assert.equal(typeof r.body.message, 'string')
  }
  const plugin = await call('GET', '/v1.41/plugins/front/json')
  assert.equal(plugin.status, 404)
  assert.match(plugin.body.message, /No such plugin: front/)
})

test('attach is hijacked through to the engine; no client certificate, no entry', async () => {
  const socket = await new Promise<import('node:stream').Duplex>((resolve, reject) => {
    const req = https.request({host: '127.0.0.1', port: ep.port, method: 'POST', path: '/v1.41/containers/web/attach?stream=1&stdin=1', agent, headers: {Connection: 'Upgrade', Upgrade: 'tcp'}})
    req.on('upgrade', (res, s) => {
      assert.equal(res.statusCode, 101)
      resolve(s)
    })
    req.on('response', res => reject(new Error(`no upgrade: ${res.statusCode}`)))
    req.on('error', reject)
    req.end()
  })
  const back = new Promise<string>(resolve => socket.once('data', (c: Buffer) => resolve(c.toString())))
  socket.write('ls\n')
  assert.equal(await back, 'LS\n')
  socket.destroy()
  assert.ok(seen.includes(`POST /v1.41/containers/${ID}/attach?stream=1&stdin=1 upgrade`))
  // exec start: its JSON body arrives with the upgrade and must reach the engine whole, first.
  const body = JSON.stringify({Detach: false, Tty: true})
  let echoed = ''
  const exec = await new Promise<import('node:stream').Duplex>((resolve, reject) => {
    const req = https.request({host: '127.0.0.1', port: ep.port, method: 'POST', path: '/v1.41/exec/x1/start', agent, headers: {'Connection': 'Upgrade', 'Upgrade': 'tcp', 'Content-Type': 'application/json', 'Content-Length': String(body.length)}})
    req.on('upgrade', (_res, s, head: Buffer) => {
      // The engine's echo may come in the same packet as the 101.
      echoed += head.toString()
      resolve(s)
    })
    req.on('response', res => reject(new Error(`no upgrade: ${res.statusCode}`)))
    req.on('error', reject)
    req.end(body)
  })
  if (echoed.length < body.length) {
    await new Promise<void>(resolve => exec.on('data', (c: Buffer) => {
      echoed += c.toString()
      if (echoed.length >= body.length) resolve()
    }))
  }
  assert.equal(echoed, body.toUpperCase())
  exec.destroy()
  const bare = new Promise((resolve, reject) => {
    const req = https.request({host: '127.0.0.1', port: ep.port, path: '/_ping', ca: readFileSync(path.join(ep.ctx.store.certsDir, 'ca.pem'))}, resolve)
    req.on('error', reject)
    req.end()
  })
  await assert.rejects(bare)
})
