/** The single-host pipeline end to end on real lab hosts: real sshd, real dockerd, the stock docker CLI. */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync} from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import {berth, busyboxTar, docker, dockerEnv, isRoot, labLeftovers, processesMentioning, tmpDir} from '../helpers.js'

const skip = !isRoot() && 'lab hosts need root'

describe('lab driver end to end', {skip, concurrency: false}, () => {
  const labDir = tmpDir('lab')
  const env = {BERTH_STORAGE_PATH: tmpDir('store'), BERTH_LAB_DIR: labDir, BERTH_LAB_SUBNET: '172.30.80.0/24'}
  const names = ['e2e-a', 'e2e-b', 'e2e-c']
  const ids: string[] = []
  const image = busyboxTar()
  const config = (n: string) => JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'machines', n, 'config.json'), 'utf8'))

  before(async () => {
    const r = await berth(['create', ...names], {env})
    assert.equal(r.code, 0, r.stderr)
    for (const n of names) ids.push(config(n).id)
  })

  after(async () => {
    await berth(['rm', '-f', ...names], {env})
  })

  test('three machines created in parallel are Running with a TLS engine', async () => {
    const r = await berth(['ls', '--json'], {env})
    const rows = JSON.parse(r.stdout)
    assert.deepEqual(rows.map((x: {name: string}) => x.name), names)
    for (const row of rows) {
      assert.equal(row.state, 'Running')
      assert.match(row.url, /^tcp:\/\/172\.30\.80\.\d+:2376$/)
      assert.match(row.docker, /^v\d+/)
    }
    assert.equal(new Set(rows.map((x: {url: string}) => x.url)).size, 3)
  })

  test('the stock docker CLI runs an imported image on each machine through berth env', async () => {
    for (const n of names) {
      const denv = await dockerEnv(n, env)
      assert.equal(denv.DOCKER_TLS_VERIFY, '1')
      assert.equal(docker(['import', '-', 'bb:v1'], denv, image).code, 0)
      const run = docker(['run', '--rm', 'bb:v1', 'hostname'], denv)
      assert.equal(run.code, 0, run.stderr)
      const info = docker(['info', '--format', '{{.Name}} {{json .Labels}}'], denv)
      assert.match(info.stdout, new RegExp(`^${n} .*"berth.machine=${n}"`))
      assert.match(info.stdout, /"provider=lab"/)
    }
  })

  test('a client without the client certificate is refused on 2376', async () => {
    const denv = await dockerEnv(names[0], env)
    const [host, port] = denv.DOCKER_HOST.replace('tcp://', '').split(':')
    const ca = readFileSync(path.join(denv.DOCKER_CERT_PATH, 'ca.pem'))
    const get = (opts: https.RequestOptions) => new Promise<number>((resolve, reject) => {
      https.get({host, port: Number(port), path: '/_ping', ca, ...opts}, res => resolve(res.statusCode ?? 0)).on('error', reject)
    })
    await assert.rejects(get({}), /certificate|handshake|socket hang up|ECONNRESET|alert/i)
    const ok = await get({cert: readFileSync(path.join(denv.DOCKER_CERT_PATH, 'cert.pem')), key: readFileSync(path.join(denv.DOCKER_CERT_PATH, 'key.pem'))})
    assert.equal(ok, 200)
    const plain = docker(['-H', denv.DOCKER_HOST, 'version'], {DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: ''})
    assert.notEqual(plain.code, 0)
  })

  test('stop and start keep the engine\'s data', async () => {
    const n = names[1]
    const denv = await dockerEnv(n, env)
    assert.equal(docker(['volume', 'create', 'keepme'], denv).code, 0)
    assert.equal(docker(['run', '--rm', '-v', 'keepme:/data', 'bb:v1', 'sh', '-c', 'echo persisted > /data/f'], denv).code, 0)
    assert.equal(docker(['run', '-d', '--name', 'sleeper', 'bb:v1', 'sleep', '1000'], denv).code, 0)
    let r = await berth(['stop', n], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.equal((await berth(['status', n], {env})).stdout.trim(), 'Stopped')
    assert.notEqual(docker(['version'], denv).code, 0)
    assert.deepEqual(processesMentioning(path.join(labDir, ids[1])), [])
    r = await berth(['start', n], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.equal((await berth(['status', n], {env})).stdout.trim(), 'Running')
    const out = docker(['run', '--rm', '-v', 'keepme:/data', 'bb:v1', 'cat', '/data/f'], denv)
    assert.equal(out.stdout.trim(), 'persisted')
    assert.match(docker(['images', '--format', '{{.Repository}}:{{.Tag}}'], denv).stdout, /bb:v1/)
    assert.match(docker(['ps', '-a', '--format', '{{.Names}}'], denv).stdout, /sleeper/)
  })

  test('ssh runs commands with exit codes; scp copies both ways', async () => {
    const n = names[0]
    const r = await berth(['ssh', n, '--', 'sh', '-c', 'hostname; exit 3'], {env})
    assert.equal(r.code, 3)
    assert.equal(r.stdout.trim(), n)
    const local = tmpDir('scp')
    mkdirSync(path.join(local, 'd', 'sub'), {recursive: true})
    writeFileSync(path.join(local, 'd', 'sub', 'f.txt'), 'payload')
    assert.equal((await berth(['scp', '-r', path.join(local, 'd'), `${n}:/tmp/berth-scp-test`], {env})).code, 0)
    assert.equal((await berth(['ssh', n, 'cat /tmp/berth-scp-test/sub/f.txt'], {env})).stdout, 'payload')
    const back = path.join(local, 'back')
    const r2 = await berth(['scp', '-r', `${n}:/tmp/berth-scp-test`, back], {env})
    assert.equal(r2.code, 0, r2.stderr)
    assert.equal(readFileSync(path.join(back, 'sub', 'f.txt'), 'utf8'), 'payload')
    await berth(['ssh', n, 'rm -rf /tmp/berth-scp-test'], {env})
  })

  test('env, config, ip, url, inspect and status agree', async () => {
    const n = names[2]
    const ip = (await berth(['ip', n], {env})).stdout.trim()
    assert.equal((await berth(['url', n], {env})).stdout.trim(), `tcp://${ip}:2376`)
    assert.match((await berth(['config', n], {env})).stdout, new RegExp(`-H=tcp://${ip.replace(/\./g, '\\.')}:2376`))
    const insp = JSON.parse((await berth(['inspect', n], {env})).stdout)
    assert.equal(insp.driverData.ip, ip)
    assert.equal(insp.state, 'Running')
    assert.ok(!JSON.stringify(insp).includes('PRIVATE KEY'))
    const active = await berth(['active'], {env: {...env, DOCKER_HOST: `tcp://${ip}:2376`}})
    assert.equal(active.stdout.trim(), n)
    // A docker context per machine, for users who prefer `docker --context` to environment variables.
    const dockerConfig = tmpDir('dockercfg')
    const ctxOut = await berth(['env', n, '--docker-context', '--json'], {env: {...env, DOCKER_CONFIG: dockerConfig}})
    assert.equal(ctxOut.code, 0, ctxOut.stderr)
    assert.equal(JSON.parse(ctxOut.stdout).DOCKER_CONTEXT, `berth-${n}`)
    const viaContext = docker(['--context', `berth-${n}`, 'info', '--format', '{{.Name}}'], {DOCKER_CONFIG: dockerConfig, DOCKER_HOST: '', DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: ''})
    assert.equal(viaContext.stdout.trim(), n, viaContext.stderr)
  })

  test('regenerate-certs re-issues the server certificate and the engine still answers', async () => {
    const n = names[2]
    const denv = await dockerEnv(n, env)
    const before = (await berth(['ssh', n, 'cat /etc/docker/server.pem'], {env})).stdout
    const r = await berth(['regenerate-certs', '-f', n], {env})
    assert.equal(r.code, 0, r.stderr)
    const afterPem = (await berth(['ssh', n, 'cat /etc/docker/server.pem'], {env})).stdout
    assert.notEqual(afterPem, before)
    assert.equal(docker(['version', '--format', '{{.Server.Version}}'], denv).code, 0)
    const mode = (await berth(['ssh', n, 'stat -c %a /etc/docker/server-key.pem'], {env})).stdout.trim()
    assert.equal(mode, '600')
  })

  test('a changed IP is noticed by env, config and ls, and regenerate-certs follows it', async () => {
    const n = names[2]
    const file = path.join(env.BERTH_STORAGE_PATH, 'machines', n, 'config.json')
    const rec = JSON.parse(readFileSync(file, 'utf8'))
    const oldIp = rec.driverData.ip
    const newIp = oldIp.replace(/\.(\d+)$/, (_: string, d: string) => `.${200 + (Number(d) % 50)}`)
    // As a DHCP lease change would: the host gets a new address and the driver reports it.
    execFileSync('ip', ['-n', rec.driverData.netns, 'addr', 'add', `${newIp}/24`, 'dev', 'eth0'])
    rec.driverData.ip = newIp
    writeFileSync(file, JSON.stringify(rec, null, 2))
    try {
      const e = await berth(['env', n], {env})
      assert.notEqual(e.code, 0)
      assert.match(e.stderr, new RegExp(`IP of "${n}" changed from ${oldIp.replace(/\./g, '\\.')} to ${newIp.replace(/\./g, '\\.')}.*regenerate-certs`))
      assert.notEqual((await berth(['config', n], {env})).code, 0)
      const row = JSON.parse((await berth(['ls', '--json'], {env})).stdout).find((r: {name: string}) => r.name === n)
      assert.match(row.error, /changed/)
      const r = await berth(['regenerate-certs', '-f', n], {env})
      assert.equal(r.code, 0, r.stderr)
      const denv = await dockerEnv(n, env)
      assert.equal(denv.DOCKER_HOST, `tcp://${newIp}:2376`)
      assert.equal(docker(['version', '--format', '{{.Server.Version}}'], denv).code, 0)
    } finally {
      rec.driverData.ip = oldIp
      const now = JSON.parse(readFileSync(file, 'utf8'))
      now.driverData.ip = oldIp
      writeFileSync(file, JSON.stringify(now, null, 2))
      await berth(['regenerate-certs', '-f', n], {env})
    }
  })

  test('provision re-runs safely', async () => {
    const r = await berth(['provision', names[0]], {env})
    assert.equal(r.code, 0, r.stderr)
    const denv = await dockerEnv(names[0], env)
    assert.match(docker(['images', '--format', '{{.Repository}}'], denv).stdout, /bb/)
  })

  test('rm leaves no namespace, link, process, cgroup or file behind', async () => {
    const r = await berth(['rm', '-y', ...names], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(labLeftovers(ids), [])
    assert.deepEqual(processesMentioning(labDir), [])
    assert.deepEqual(readdirSync(labDir), [])
    assert.deepEqual(readdirSync(path.join(env.BERTH_STORAGE_PATH, 'machines')), [])
    assert.ok(!existsSync('/sys/class/net/bbr' /* bridge of this subnet is gone when its last host goes */ + ''))
  })
})
