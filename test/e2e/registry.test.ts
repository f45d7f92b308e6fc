/**
 * Seed 002's scene on a berth swarm, with a real distribution registry (Debian's docker-registry)
 * that berth runs and every member trusts: an image built on one machine and pushed to it, a
 * service resolved and pulled from it by the workers, a stack on workers only; then a
 * pull-through mirror of a second local registry, htpasswd auth, image push without a
 * registry, and the bad inputs (no such image, host down, full disk, a create that fails).
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import {berth, busyboxTar, docker, dockerEnv, isRoot, tmpDir, until} from '../helpers.js'

const SWARM = 's2'
const NODES = ['m1', 'w1', 'w2', 'w3']

describe('store registry and image distribution (seed 002)', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('regstore'), BERTH_LAB_DIR: tmpDir('reglab'), BERTH_LAB_SUBNET: '172.30.145.0/24'}
  const PASSWORD = 'pw-' + Math.random().toString(36).slice(2)
  const outputs: string[] = []
  const run = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await berth(args, {env: {...env, ...extra}})
    outputs.push(r.stdout, r.stderr)
    return r
  }
  const denv: Record<string, Record<string, string>> = {}
  const ip: Record<string, string> = {}
  let REG = ''
  const ca = () => readFileSync(path.join(env.BERTH_STORAGE_PATH, 'certs', 'ca.pem'))
  const get = (address: string, p: string, auth?: string) => new Promise<{status: number; body: string}>((resolve, reject) => {
    const [host, port] = address.split(':')
    const req = https.request({host, port: Number(port), path: p, ca: ca(), headers: auth ? {Authorization: `Basic ${Buffer.from(auth).toString('base64')}`} : {}}, res => {
      let body = ''
      res.on('data', d => (body += d))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body}))
    })
    req.on('error', reject)
    req.end()
  })
  const tasks = (service: string) => docker(['service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'], denv.m1).stdout.trim().split('\n').filter(l => / Running /.test(l))

  before(async () => {
    let r = await run(['create', '--swarm', SWARM, ...NODES])
    if (r.code !== 0) {
      // The swarm port check can time out on a loaded box (another area's flake): retry the ones that failed, once.
      const have = (await run(['ls', '-q'])).stdout.split('\n')
      r = await run(['create', '--swarm', SWARM, ...NODES.filter(n => !have.includes(n))])
    }
    assert.equal(r.code, 0, r.stderr)
    for (const n of NODES) {
      denv[n] = await dockerEnv(n, env)
      ip[n] = (await run(['ip', n])).stdout.trim()
    }
    assert.equal(docker(['import', '-', 'bb:base'], denv.w1, busyboxTar()).code, 0)
  })

  after(async () => {
    await berth(['rm', '-f', '-y', ...NODES], {env})
  })

  test('registry create: a real registry on the manager that every member trusts', async () => {
    const r = await run(['registry', 'create', '--swarm', SWARM])
    assert.equal(r.code, 0, r.stderr)
    REG = r.stdout.trim()
    assert.equal(REG, `${ip.m1}:5000`)
    assert.equal((await get(REG, '/v2/')).status, 200)
    for (const n of NODES) assert.equal((await run(['ssh', n, `cat /etc/docker/certs.d/${REG}/ca.crt`])).stdout, ca().toString())
    const ls = JSON.parse((await run(['registry', 'ls', '--json'])).stdout)
    assert.deepEqual(ls.map((x: {name: string; state: string}) => [x.name, x.state]), [['m1:5000', 'up']])
    assert.match((await run(['ls'])).stdout, /REGISTRY[\s\S]*m1 .* :5000/)
    assert.deepEqual(JSON.parse((await run(['ls', '--json'])).stdout).map((x: {registry?: string}) => x.registry ?? '-'), [':5000', '-', '-', '-'])
    // Real docker-registry, with its storage on the host's own disk.
    assert.match((await run(['ssh', 'm1', 'ps -eo args'])).stdout, /\/usr\/bin\/docker-registry serve \/etc\/docker\/berth-registry-5000\/config\.yml/)
    assert.match((await run(['ssh', 'm1', 'grep rootdirectory /etc/docker/berth-registry-5000/config.yml'])).stdout, /\/var\/lib\/docker\/berth-registry-5000/)
  })

  test('seed 002: build on w1, push, a service without --no-resolve-image pulled by the workers, a stack on workers only', async () => {
    const ctx = tmpDir('api')
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM bb:base\nRUN mkdir -p /www && echo "The API service is running..." > /www/index.html\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n')
    const b = docker(['build', '-q', '-t', `${REG}/swtest/api:latest`, ctx], {...denv.w1, DOCKER_BUILDKIT: '0'})
    assert.equal(b.code, 0, b.stderr)
    const p = docker(['push', `${REG}/swtest/api:latest`], denv.w1)
    assert.equal(p.code, 0, p.stderr)
    assert.match((await get(REG, '/v2/_catalog')).body, /swtest\/api/)
    const c = docker(['service', 'create', '--detach', '--replicas', '1', '--name', 'api', '--stop-grace-period', '1s', `${REG}/swtest/api:latest`], denv.m1)
    assert.equal(c.code, 0, c.stderr)
    await until('1 task', () => tasks('api').length === 1)
    assert.equal(docker(['service', 'scale', '--detach', 'api=6'], denv.m1).code, 0)
    const six = await until('6 running tasks', () => tasks('api').length === 6 && tasks('api'))
    const nodes = new Set(six.map(t => t.split(' ')[0]))
    assert.ok(nodes.has('w2') && nodes.has('w3'), [...nodes].join(','))
    for (const n of ['w2', 'w3']) {
      // Pulled by the digest the manager resolved from the registry (a swarm task pulls by digest).
      const digests = docker(['images', '--digests', '--format', '{{.Repository}} {{.Digest}}'], denv[n]).stdout
      assert.match(digests, new RegExp(`^${REG.replace(/\./g, '\\.')}/swtest/api sha256:[0-9a-f]{64}$`, 'm'))
    }
    assert.equal(docker(['service', 'rm', 'api'], denv.m1).code, 0)
    assert.equal(docker(['network', 'create', '--driver=overlay', '--attachable', 'swtest_net'], denv.m1).code, 0)
    const stack = path.join(ctx, 'webapi.yml')
    writeFileSync(stack, `version: "3"\nservices:\n  api:\n    image: ${REG}/swtest/api:latest\n    deploy:\n      replicas: 3\n      placement:\n        constraints: [node.role != manager]\n    networks:\n      - swtest_net\nnetworks:\n  swtest_net:\n    external: true\n`)
    const d = docker(['stack', 'deploy', '-c', stack, 'swtest'], denv.m1)
    assert.equal(d.code, 0, d.stderr)
    const three = await until('3 stack tasks', () => tasks('swtest_api').length === 3 && tasks('swtest_api'))
    assert.ok(three.every(t => /^w\d /.test(t)), three.join('\n'))
    assert.equal(docker(['stack', 'rm', 'swtest'], denv.m1).code, 0)
  })

  test('--mirror: a pull-through cache of a second local registry, the members\' registry mirror', async () => {
    const up = await run(['registry', 'create', '--swarm', SWARM, '--on', 'w3', '--port', '5001'])
    assert.equal(up.code, 0, up.stderr)
    const UP = up.stdout.trim()
    assert.equal(docker(['tag', 'bb:base', `${UP}/library/mirrored:1`], denv.w1).code, 0)
    assert.equal(docker(['push', `${UP}/library/mirrored:1`], denv.w1).code, 0)
    const m = await run(['registry', 'create', '--swarm', SWARM, '--on', 'm1', '--port', '5002', '--mirror', `https://${UP}`])
    assert.equal(m.code, 0, m.stderr)
    const MIRROR = m.stdout.trim()
    await until('w2 sees the mirror', () => docker(['info', '--format', '{{json .RegistryConfig.Mirrors}}'], denv.w2).stdout.includes(`https://${MIRROR}/`), 20_000)
    const pull = docker(['pull', 'mirrored:1'], denv.w2)
    assert.equal(pull.code, 0, pull.stderr)
    assert.match((await get(MIRROR, '/v2/_catalog')).body, /library\/mirrored/)
  })

  test('--auth: htpasswd whose password is never on a command line or in output', async () => {
    const r = await run(['registry', 'create', '--swarm', SWARM, '--on', 'w2', '--port', '5003', '--auth', 'alice'], {BERTH_REGISTRY_PASSWORD: PASSWORD})
    assert.equal(r.code, 0, r.stderr)
    const A = r.stdout.trim()
    assert.equal((await get(A, '/v2/')).status, 401)
    assert.equal((await get(A, '/v2/', 'alice:wrong')).status, 401)
    assert.equal((await get(A, '/v2/', `alice:${PASSWORD}`)).status, 200)
    assert.match((await run(['ssh', 'w2', 'cat /etc/docker/berth-registry-5003/htpasswd'])).stdout, /^alice:\$2b\$10\$/)
    for (const o of outputs) assert.ok(!o.includes(PASSWORD), 'the password was printed')
    assert.equal((await run(['registry', 'rm', 'w2:5003'])).code, 0)
  })

  test('image push without a registry: streamed from a member or a tarball, skipped where present, listed', async () => {
    const r = await run(['image', 'push', 'bb:base', 'w3', 'm1', '--from', 'w1', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout).map((x: {result: string; bytes: number}) => x.bytes > 1e6 && x.result), ['loaded', 'loaded'])
    assert.match(r.stderr, /w3: loaded [\d.]+ MiB in [\d.]+ s/)
    // w2 has that image ID already (the mirror's pull of the same content): only the tag is added.
    const again = JSON.parse((await run(['image', 'push', 'bb:base', '--swarm', SWARM, '--from', 'w1', '--json'])).stdout)
    assert.deepEqual(again.map((x: {machine: string; result: string}) => `${x.machine}:${x.result}`), ['m1:present', 'w2:present', 'w3:present'])
    const ls = JSON.parse((await run(['image', 'ls', '--swarm', SWARM, '--json'])).stdout)
    assert.deepEqual(ls.find((x: {tags: string[]}) => x.tags.includes('bb:base')).machines, NODES)
    // From a `docker save` tarball on this box.
    const ctx = tmpDir('big')
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM bb:base\nRUN busybox dd if=/dev/urandom of=/big bs=1024 count=1024\n')
    assert.equal(docker(['build', '-q', '-t', 'big:1', ctx], {...denv.w1, DOCKER_BUILDKIT: '0'}).code, 0)
    const file = path.join(tmpDir('tar'), 'big.tar')
    assert.equal(docker(['save', '-o', file, 'big:1'], denv.w1).code, 0)
    const f = await run(['image', 'push', '--file', file, 'w2', '--json'])
    assert.equal(f.code, 0, f.stderr)
    assert.equal(JSON.parse(f.stdout)[0].result, 'loaded')
    assert.equal(docker(['image', 'inspect', 'big:1'], denv.w2).code, 0)
    // From "the local engine": whatever DOCKER_HOST names, here w1's over TLS as `berth env` sets it.
    const local = await run(['image', 'push', 'big:1', 'w3', '--json'], denv.w1)
    assert.equal(local.code, 0, local.stderr)
    assert.equal(JSON.parse(local.stdout)[0].result, 'loaded')
  })

  test('bad input: no such image, a full disk, a create that fails leaves nothing', async () => {
    const none = await run(['image', 'push', 'nosuch:1', 'w2', '--from', 'w1'])
    assert.notEqual(none.code, 0)
    assert.equal(none.stderr.trim(), 'berth: no such image "nosuch:1" on machine "w1"')
    assert.equal((await run(['ssh', 'm1', 'mkdir -p /var/lib/docker/tmp && mount -t tmpfs -o size=16k tmpfs /var/lib/docker/tmp'])).code, 0)
    try {
      const full = await run(['image', 'push', 'big:1', 'm1', '--from', 'w1'])
      assert.notEqual(full.code, 0)
      assert.match(full.stderr, /^berth: m1: its engine is out of disk space \(no space left on device\)/m)
      assert.equal(full.stderr.trim().split('\n').filter(l => l.startsWith('berth:')).length, 1)
    } finally {
      await run(['ssh', 'm1', 'umount /var/lib/docker/tmp'])
    }
    // Port 5009 held on w2's own address only: the registry cannot bind, and the create undoes itself.
    assert.equal((await run(['ssh', 'w2', `setsid -f perl -MIO::Socket::INET -e 'open(my $f, ">", "/run/blocker.pid"); print $f $$; close $f; my $s = IO::Socket::INET->new(LocalAddr => "${ip.w2}", LocalPort => 5009, Listen => 1) or die; sleep 300' </dev/null >/dev/null 2>&1; sleep 0.5`])).code, 0)
    try {
      const bad = await run(['registry', 'create', '--swarm', SWARM, '--on', 'w2', '--port', '5009'])
      assert.notEqual(bad.code, 0)
      assert.match(bad.stderr, /berth: the registry on [\d.]+:5009 did not start: .*address already in use/)
      assert.ok(!JSON.parse((await run(['registry', 'ls', '--json'])).stdout).some((x: {port: number}) => x.port === 5009))
      assert.equal((await run(['ssh', 'w2', 'ls -d /etc/docker/berth-registry-5009 /var/lib/docker/berth-registry-5009 /run/berth-registry-5009.pid /var/log/berth-registry-5009.log 2>/dev/null; true'])).stdout, '')
      for (const n of NODES) assert.equal((await run(['ssh', n, `ls /etc/docker/certs.d`])).stdout.includes(':5009'), false)
      assert.doesNotMatch((await run(['ssh', 'w2', 'ps -eo args'])).stdout, /berth-registry-5009/)
    } finally {
      await run(['ssh', 'w2', 'kill "$(cat /run/blocker.pid)"; rm -f /run/blocker.pid'])
    }
  })

  test('registry host down: clear lines; the registry comes back with berth start', async () => {
    assert.equal((await run(['stop', 'w3'])).code, 0)
    const ls = JSON.parse((await run(['registry', 'ls', '--json'])).stdout)
    assert.match(ls.find((x: {name: string}) => x.name === 'w3:5001').state, /^down/)
    const c = await run(['registry', 'create', '--swarm', SWARM, '--on', 'w3', '--port', '5004'])
    assert.notEqual(c.code, 0)
    assert.match(c.stderr, /^berth: the registry host "w3" is down: /)
    const p = await run(['image', 'push', 'bb:base', 'w3', '--from', 'w1'])
    assert.notEqual(p.code, 0)
    assert.equal(p.stderr.trim().split('\n').filter(l => l.startsWith('berth:')).length, 1, p.stderr)
    assert.equal((await run(['start', 'w3'])).code, 0)
    await until('w3:5001 up again', async () => JSON.parse((await run(['registry', 'ls', '--json'])).stdout).find((x: {name: string}) => x.name === 'w3:5001').state === 'up', 30_000)
    assert.match((await get(ip.w3 + ':5001', '/v2/_catalog')).body, /library\/mirrored/)
  })

  test('registry rm of the mirror, and rm of a registry\'s host, undo the members\' trust with a warning', async () => {
    assert.equal((await run(['registry', 'rm', 'm1:5002'])).code, 0)
    await until('no mirror on w2', () => docker(['info', '--format', '{{json .RegistryConfig.Mirrors}}'], denv.w2).stdout.trim() === '[]', 20_000)
    assert.deepEqual(JSON.parse((await run(['ssh', 'w2', 'cat /etc/docker/daemon.json'])).stdout)['registry-mirrors'], [])
    const r = await run(['rm', '-y', 'w3'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, new RegExp(`warning: registry ${ip.w3}:5001 \\(swarm s2\\) is removed with w3: members m1, w1, w2 \\(trust\\) depended on it`))
    assert.deepEqual(JSON.parse((await run(['registry', 'ls', '--json'])).stdout).map((x: {name: string}) => x.name), ['m1:5000'])
    assert.doesNotMatch((await run(['ssh', 'm1', 'ls /etc/docker/certs.d'])).stdout, /5001/)
  })

  test('a machine that joins later trusts the registry', async () => {
    const r = await run(['create', '--swarm', SWARM, 'w3'])
    assert.equal(r.code, 0, r.stderr)
    const e = await dockerEnv('w3', env)
    const p = docker(['pull', `${REG}/swtest/api:latest`], e)
    assert.equal(p.code, 0, p.stderr)
  })
})
