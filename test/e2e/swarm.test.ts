/**
 * Seed 003 on a swarm berth formed: services, scaling, rolling updates, rescheduling on node
 * loss, manager failover through `berth env --swarm`, and an attachable overlay network.
 * Real engines on lab hosts; the stock docker CLI does what a user would type.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {berth, busyboxTar, docker, dockerEnv, isRoot, tmpDir, until} from '../helpers.js'

const SWARM = 's3'

describe('swarm end to end (seed 003)', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('swstore'), BERTH_LAB_DIR: tmpDir('swlab'), BERTH_LAB_SUBNET: '172.30.93.0/24'}
  const outputs: string[] = []
  const run = async (args: string[]) => {
    const r = await berth(args, {env})
    outputs.push(r.stdout, r.stderr)
    return r
  }
  let denv: Record<string, string> = {}
  const tasks = (service: string) => docker(['service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}} {{.Image}}'], denv).stdout.trim().split('\n').filter(Boolean)
  const running = (service: string) => tasks(service).filter(t => / Running /.test(t))

  before(async () => {
    const r = await run(['create', '--swarm', SWARM, '--swarm-label', 'tier=lab', 'm1', 'w1', 'w2'])
    assert.equal(r.code, 0, r.stderr)
    denv = await dockerEnv('m1', env)
    const v1 = busyboxTar()
    for (const n of ['m1', 'w1', 'w2']) {
      const e = await dockerEnv(n, env)
      assert.equal(docker(['import', '-', 'bb:v1'], e, v1).code, 0)
      assert.equal(docker(['import', '-', 'bb:v2'], e, v1).code, 0)
    }
  })

  after(async () => {
    await berth(['rm', '-f', 'm1', 'w1', 'w2', 'w3'], {env})
  })

  test('one create made 1 manager and 2 workers, labelled', async () => {
    const sw = JSON.parse((await run(['swarm', 'ls', '--json'])).stdout)
    assert.equal(sw.length, 1)
    assert.deepEqual(sw[0].managers, ['m1'])
    assert.deepEqual(sw[0].workers, ['w1', 'w2'])
    assert.equal(sw[0].leader, 'm1')
    const labels = JSON.parse(docker(['node', 'inspect', 'w1', '--format', '{{json .Spec.Labels}}'], denv).stdout)
    assert.deepEqual(labels, {'berth.machine': 'w1', 'berth.driver': 'lab', 'berth.region': 'lab', tier: 'lab'})
    const ls = JSON.parse((await run(['ls', '--json'])).stdout)
    assert.deepEqual(ls.map((r: {swarm: string}) => r.swarm), ['s3 (manager)', 's3', 's3'])
  })

  test('the last manager of a swarm with workers is not removed without -f', async () => {
    const r = await run(['rm', '-y', 'm1'])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /last manager of swarm s3, which still has workers \(w1, w2\)/)
    assert.equal((await run(['status', 'm1'])).stdout.trim(), 'Running')
  })

  test('5 replicas run on all three nodes; scale to 7 and back', async () => {
    const c = docker(['service', 'create', '--no-resolve-image', '--detach', '--name', 'web', '--replicas', '5', '--stop-grace-period', '1s', 'bb:v1', 'sleep', '100000'], denv)
    assert.equal(c.code, 0, c.stderr)
    const r5 = await until('5 running tasks', () => running('web').length === 5 && running('web'))
    assert.deepEqual([...new Set(r5.map(t => t.split(' ')[0]))].sort(), ['m1', 'w1', 'w2'])
    assert.equal(docker(['service', 'scale', '--detach', 'web=7'], denv).code, 0)
    await until('7 running tasks', () => running('web').length === 7)
    assert.equal(docker(['service', 'scale', '--detach', 'web=5'], denv).code, 0)
    await until('5 running tasks again', () => running('web').length === 5 && tasks('web').length === 5)
  })

  test('a rolling update from v1 to v2 completes', async () => {
    const u = docker(['service', 'update', '--detach', '--no-resolve-image', '--image', 'bb:v2', '--update-parallelism', '2', '--update-delay', '0s', 'web'], denv)
    assert.equal(u.code, 0, u.stderr)
    await until('update completed', () => docker(['service', 'inspect', 'web', '--format', '{{.UpdateStatus.State}}'], denv).stdout.trim() === 'completed')
    const r = await until('5 v2 tasks', () => running('web').length === 5 && running('web'))
    assert.ok(r.every(t => t.endsWith('bb:v2')), r.join('\n'))
  })

  test('when a worker is stopped with berth stop, its tasks move to the others', async () => {
    assert.ok(running('web').some(t => t.startsWith('w2 ')))
    const s = await run(['stop', 'w2'])
    assert.equal(s.code, 0, s.stderr)
    await until('w2 down', () => docker(['node', 'inspect', 'w2', '--format', '{{.Status.State}}'], denv).stdout.trim() === 'down', 60_000)
    const r = await until('5 tasks off w2', () => running('web').length === 5 && running('web').every(t => !t.startsWith('w2 ')) && running('web'), 90_000)
    assert.equal(r.length, 5)
    const st = await run(['start', 'w2'])
    assert.equal(st.code, 0, st.stderr)
    await until('w2 ready again', () => docker(['node', 'inspect', 'w2', '--format', '{{.Status.State}}'], denv).stdout.trim() === 'ready', 60_000)
  })

  test('an attachable overlay network carries traffic between containers on two nodes', async () => {
    assert.equal(docker(['network', 'create', '-d', 'overlay', '--attachable', 'net1'], denv).code, 0)
    const c = docker(['service', 'create', '--no-resolve-image', '--detach', '--name', 'srv', '--network', 'net1', '--endpoint-mode', 'dnsrr',
      '--constraint', 'node.labels.berth.machine==w1', '--publish', 'mode=host,target=8080,published=18080',
      'bb:v1', 'sh', '-c', 'mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www'], denv)
    assert.equal(c.code, 0, c.stderr)
    await until('srv running on w1', () => running('srv').length === 1 && running('srv')[0].startsWith('w1 '))
    // From a plain container on m1, over the overlay, by the service's DNS name.
    const got = await until('reply over the overlay', () => {
      // busybox-static's wget crashes here; nc speaks enough HTTP.
      const r = docker(['run', '--rm', '--network', 'net1', 'bb:v1', 'sh', '-c', 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 srv 8080'], denv)
      return r.code === 0 && r.stdout.trim().split('\n').pop()
    }, 60_000)
    assert.match(got, /^[0-9a-f]{12}$/)
    // And published in host mode on w1's own address.
    const w1 = (await run(['ip', 'w1'])).stdout.trim()
    const direct = await until('host-mode publish', () => {
      const r = docker(['run', '--rm', 'bb:v1', 'sh', '-c', `printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 ${w1} 18080`], denv)
      return r.code === 0 && r.stdout.trim().split('\n').pop()
    }, 30_000)
    assert.equal(direct, got)
  })

  test('berth rm of a member drains it, makes it leave and removes its node entry', async () => {
    const c = await run(['create', '--swarm', SWARM, 'w3'])
    assert.equal(c.code, 0, c.stderr)
    assert.match(docker(['node', 'ls', '--format', '{{.Hostname}}'], denv).stdout, /w3/)
    const r = await run(['rm', '-y', 'w3'])
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(docker(['node', 'ls', '--format', '{{.Hostname}}'], denv).stdout, /w3/)
  })

  test('a blocked swarm port is named and the joining machine is rolled back', async () => {
    assert.equal((await run(['ssh', 'm1', 'iptables -I INPUT -p tcp --dport 7946 -j REJECT'])).code, 0)
    try {
      const r = await run(['create', '--swarm', SWARM, 'w4'])
      assert.notEqual(r.code, 0)
      assert.match(r.stderr, /swarm port 7946\/tcp \(node communication\) on 172\.30\.93\.\d+ is not reachable/)
      assert.match((await run(['ls', '-q'])).stdout, /^m1\nw1\nw2\n$/)
    } finally {
      await run(['ssh', 'm1', 'iptables -D INPUT -p tcp --dport 7946 -j REJECT'])
    }
  })

  test('with 3 managers, losing one leaves the swarm answering through berth env --swarm', async () => {
    for (const w of ['w1', 'w2']) {
      const p = await run(['swarm', 'promote', w])
      assert.equal(p.code, 0, p.stderr)
    }
    const warned = await run(['swarm', 'demote', 'w2'])
    assert.equal(warned.code, 0, warned.stderr)
    assert.match(warned.stderr, /2 managers tolerate 0 failures.*use an odd count/)
    assert.equal((await run(['swarm', 'promote', 'w2'])).code, 0)
    const s = await run(['stop', 'm1'])
    assert.equal(s.code, 0, s.stderr)
    const e = await run(['env', '--swarm', SWARM, '--json'])
    assert.equal(e.code, 0, e.stderr)
    const via = JSON.parse(e.stdout)
    assert.notEqual(via.DOCKER_MACHINE_NAME, 'm1')
    const nodes = await until('a leader among the survivors', () => {
      const r = docker(['node', 'ls', '--format', '{{.Hostname}} {{.ManagerStatus}}'], via)
      return r.code === 0 && /Leader/.test(r.stdout) && r.stdout
    }, 60_000)
    assert.match(nodes, /m1 Unreachable/)
  })

  test('join tokens never appear in berth\'s output', () => {
    assert.ok(outputs.length > 10)
    for (const o of outputs) assert.ok(!o.includes('SWMTKN-'), 'a join token was printed')
  })
})
