/**
 * Seed 004 on three lab machines: the stock docker CLI pointed at `berth swarm manage` places
 * plain `docker run` by strategy and filters, and `berth run` / `berth ps` do the same from
 * berth. Real engines, real containers; the image is imported on each machine (no registry).
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync} from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import tls from 'node:tls'
import {BIN, berth, busyboxTar, docker, dockerEnv, isRoot, sleep, tmpDir} from '../helpers.js'

const SWARM = 'p4'
const MACHINES = ['pa', 'pb', 'pc']
const SLEEP = ['sleep', '100000']

function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({host, port, path: '/', timeout: 5000}, res => {
      let body = ''
      res.on('data', d => (body += d))
      res.on('end', () => resolve(body))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
  })
}

describe('placement end to end (seed 004)', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('plstore'), BERTH_LAB_DIR: tmpDir('pllab'), BERTH_LAB_SUBNET: '172.30.95.0/24'}
  const stateFile = path.join(env.BERTH_STORAGE_PATH, 'swarms', `${SWARM}.manage.json`)
  let manage: {proc: ChildProcess; stderr: string; exit: Promise<number | null>} | undefined
  let denv: Record<string, string> = {}
  const ips: Record<string, string> = {}
  const direct: Record<string, Record<string, string>> = {}

  /** Starts the endpoint and waits until `berth env --swarm --manage` points at it. */
  async function startManage(args: string[]): Promise<void> {
    const proc = spawn(process.execPath, [BIN, 'swarm', 'manage', SWARM, '--listen', '127.0.0.1:0', ...args], {env: {...process.env, BERTH_DEBUG: '', ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    const m = {proc, stderr: '', exit: new Promise<number | null>(resolve => proc.on('exit', code => resolve(code)))}
    proc.stderr!.on('data', d => (m.stderr += d))
    proc.stdout!.resume()
    manage = m
    const end = Date.now() + 30_000
    while (Date.now() < end) {
      const r = await berth(['env', '--swarm', SWARM, '--manage', '--json'], {env})
      if (r.code === 0) {
        denv = JSON.parse(r.stdout)
        return
      }
      if (proc.exitCode !== null) break
      await sleep(100)
    }
    throw new Error(`berth swarm manage did not start: ${m.stderr}`)
  }

  async function stopManage(): Promise<number | null> {
    const m = manage!
    manage = undefined
    m.proc.kill('SIGTERM')
    return m.exit
  }

  /** Machine of each container id, from the endpoint's inspect. */
  const machineOf = (id: string) => docker(['inspect', '--format', '{{.Node.Name}}', id], denv).stdout.trim()
  const names = (all = false) => docker(['ps', ...(all ? ['-a'] : []), '--format', '{{.Names}}'], denv).stdout.trim().split('\n').filter(Boolean).sort()
  const run = (args: string[]) => docker(['run', '-d', ...args], denv)
  const clean = () => {
    const ids = docker(['ps', '-aq'], denv).stdout.trim().split('\n').filter(Boolean)
    if (ids.length) assert.equal(docker(['rm', '-f', ...ids], denv).code, 0)
  }

  before(async () => {
    // Created with docker-machine's --swarm-strategy: it becomes the endpoint's default.
    const r = await berth(['create', '--swarm', SWARM, '--swarm-strategy', 'binpack', ...MACHINES], {env})
    assert.equal(r.code, 0, r.stderr)
    const tar = busyboxTar()
    for (const n of MACHINES) {
      direct[n] = await dockerEnv(n, env)
      ips[n] = (await berth(['ip', n], {env})).stdout.trim()
      const imp = docker(['import', '-', 'bb:v1'], direct[n], tar)
      assert.equal(imp.code, 0, imp.stderr)
    }
    // A swarm node label on one machine, for constraints.
    assert.equal(docker(['node', 'update', '--label-add', 'disk=ssd', 'pb'], direct.pa).code, 0)
    await startManage(['--strategy', 'spread'])
  })

  after(async () => {
    if (manage) await stopManage()
    await berth(['rm', '-f', ...MACHINES], {env})
  })

  test('berth env --swarm --manage points the docker CLI at the endpoint with the store certificates', () => {
    assert.deepEqual(Object.keys(denv).sort(), ['DOCKER_CERT_PATH', 'DOCKER_HOST', 'DOCKER_TLS_VERIFY'])
    assert.equal(denv.DOCKER_TLS_VERIFY, '1')
    assert.match(denv.DOCKER_HOST, /^tcp:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(denv.DOCKER_CERT_PATH, path.join(env.BERTH_STORAGE_PATH, 'certs'))
    const v = docker(['version', '--format', '{{.Client.APIVersion}} {{.Server.APIVersion}}'], denv)
    assert.equal(v.code, 0, v.stderr)
    assert.equal(v.stdout.trim(), '1.41 1.41', 'the CLI negotiates down to what the engines speak')
  })

  test('docker info shows the strategy, the filters and each node with its labels and reservations', () => {
    const r = docker(['info'], denv)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Strategy: spread/)
    assert.match(r.stdout, /Filters: health, port, dependency, affinity, constraint/)
    assert.match(r.stdout, /Nodes: 3/)
    for (const n of MACHINES) assert.match(r.stdout, new RegExp(`  ${n}: ${ips[n].replace(/\./g, '\\.')}:2376`))
    assert.match(r.stdout, /└ Reserved Memory: 0 B \/ \d+(\.\d+)? GiB/)
    assert.match(r.stdout, /└ Labels: berth\.driver=lab, berth\.machine=pb, berth\.region=lab, disk=ssd, kernelversion=.*provider=lab, region=lab, storagedriver=/)
    assert.match(docker(['info', '--format', '{{.NCPU}}'], denv).stdout.trim(), /^\d+$/)
  })

  test('three docker run -d -p 80:80 land on three machines (spread), a fourth finds the port taken everywhere', async () => {
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = run(['-p', '18080:80', 'bb:v1', 'sh', '-c', 'mkdir -p /www && hostname > /www/index.html && httpd -f -p 80 -h /www'])
      assert.equal(r.code, 0, r.stderr)
      ids.push(r.stdout.trim())
    }
    assert.deepEqual(ids.map(machineOf).sort(), MACHINES)
    const ps = docker(['ps', '--format', '{{.Names}} {{.Ports}}'], denv).stdout
    for (const n of MACHINES) assert.match(ps, new RegExp(`^${n}/\\S+ ${ips[n].replace(/\./g, '\\.')}:18080->80/tcp$`, 'm'))
    // The published port answers on each machine with that machine's container.
    for (const id of ids) {
      const body = await httpGet(ips[machineOf(id)], 18080).catch(async () => {
        await sleep(500)
        return httpGet(ips[machineOf(id)], 18080)
      })
      assert.equal(body.trim(), id.slice(0, 12))
    }
    const fourth = run(['-p', '18080:80', 'bb:v1', ...SLEEP])
    assert.notEqual(fourth.code, 0)
    assert.match(fourth.stderr, /no node fits: port 18080\/tcp eliminated pa, pb, pc/)
    assert.equal(names(true).length, 3, 'nothing was created')
  })

  test('docker ps -a, inspect, logs, stop, start and rm reach the container by name or machine/name', () => {
    const r = run(['--name', 'web', 'bb:v1', 'sh', '-c', 'echo hello from web; exec sleep 100000'])
    assert.equal(r.code, 0, r.stderr)
    const m = machineOf('web')
    assert.ok(MACHINES.includes(m))
    assert.ok(names().includes(`${m}/web`), names().join(' '))
    assert.equal(docker(['inspect', '--format', '{{.Name}} {{.Config.Image}}', `${m}/web`], denv).stdout.trim(), '/web bb:v1')
    let logs = ''
    for (let i = 0; i < 20 && !logs.includes('hello'); i++) logs = docker(['logs', 'web'], denv).stdout
    assert.match(logs, /hello from web/)
    assert.equal(docker(['stop', '-t', '1', 'web'], denv).code, 0)
    assert.match(docker(['ps', '-a', '--filter', 'name=web', '--format', '{{.Names}} {{.Status}}'], denv).stdout, new RegExp(`^${m}/web Exited`, 'm'))
    assert.ok(!names().includes(`${m}/web`))
    assert.equal(docker(['start', 'web'], denv).code, 0)
    assert.ok(names().includes(`${m}/web`))
    // A second container of that name anywhere in the cluster is refused, as one engine would.
    const dup = run(['--name', 'web', 'bb:v1', ...SLEEP])
    assert.notEqual(dup.code, 0)
    assert.match(dup.stderr, new RegExp(`name "/web" is already in use .* on machine ${m}`))
    assert.equal(docker(['rm', '-f', `${m}/web`], denv).code, 0)
    assert.ok(!names(true).some(n => n.endsWith('/web')))
    const missing = docker(['logs', 'web'], denv)
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /No such container: web/)
  })

  test('attached docker run and docker exec stream through the endpoint', () => {
    const r = docker(['run', '--rm', 'bb:v1', 'sh', '-c', 'echo out; echo err >&2; exit 3'], denv)
    assert.equal(r.code, 3)
    assert.equal(r.stdout.trim(), 'out')
    const c = run(['--name', 'ex', 'bb:v1', ...SLEEP])
    assert.equal(c.code, 0, c.stderr)
    const e = docker(['exec', '-i', 'ex', 'cat'], denv, Buffer.from('through stdin\n'))
    assert.equal(e.code, 0, e.stderr)
    assert.equal(e.stdout, 'through stdin\n')
    assert.equal(docker(['rm', '-f', 'ex'], denv).code, 0)
  })

  test('a constraint pins to a machine label, an impossible one fails clearly and creates nothing', () => {
    clean()
    for (let i = 0; i < 2; i++) {
      const r = run(['-e', 'constraint:disk==ssd', '-e', 'KEEP=1', 'bb:v1', ...SLEEP])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(machineOf(r.stdout.trim()), 'pb')
      // The rule is placement's, not the container's: only the plain variable reaches it.
      const envs = JSON.parse(docker(['inspect', '--format', '{{json .Config.Env}}', r.stdout.trim()], denv).stdout)
      assert.ok(envs.includes('KEEP=1'))
      assert.ok(!envs.some((e: string) => e.startsWith('constraint:')))
    }
    const pinned = run(['-e', 'constraint:node==pc', 'bb:v1', ...SLEEP])
    assert.equal(machineOf(pinned.stdout.trim()), 'pc')
    const before = names(true).length
    const bad = run(['-e', 'constraint:region==tyo1', 'bb:v1', ...SLEEP])
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /no node fits: constraint region==tyo1 eliminated pa, pb, pc/)
    // Soft rules (~) give way when nothing matches.
    const soft = run(['-e', 'constraint:region==~tyo1', 'bb:v1', ...SLEEP])
    assert.equal(soft.code, 0, soft.stderr)
    assert.equal(names(true).length, before + 1)
    const aff = run(['-e', 'affinity:image==bb:v9', 'bb:v1', ...SLEEP])
    assert.match(aff.stderr, /affinity image==bb:v9 eliminated pa, pb, pc/)
    const noImage = run(['bb:v9', ...SLEEP])
    assert.notEqual(noImage.code, 0)
    // Placed first, then fetched: no member has it and these hosts reach no registry.
    assert.match(noImage.stderr, /cannot get bb:v9 onto p[abc]: pulling it on p[abc]: /)
  })

  test('binpack (the swarm\'s --swarm-strategy) with -m fills the first machine until it is full, then the next', async () => {
    clean()
    assert.equal(await stopManage(), 0)
    assert.ok(!existsSync(stateFile), 'the endpoint removed its state file')
    const gone = await berth(['env', '--swarm', SWARM, '--manage'], {env})
    assert.notEqual(gone.code, 0)
    assert.match(gone.stderr, /no manage endpoint is running for swarm "p4"/)
    await startManage([])
    assert.match(docker(['info'], denv).stdout, /Strategy: binpack/)
    const mem = Number(docker(['info', '--format', '{{.MemTotal}}'], direct.pa).stdout.trim())
    const half = String(Math.floor(mem / 2))
    const placed: string[] = []
    for (let i = 0; i < 6; i++) {
      const r = run(['-m', half, 'bb:v1', ...SLEEP])
      assert.equal(r.code, 0, r.stderr)
      placed.push(machineOf(r.stdout.trim()))
    }
    assert.deepEqual(placed, ['pa', 'pa', 'pb', 'pb', 'pc', 'pc'])
    const full = run(['-m', half, 'bb:v1', ...SLEEP])
    assert.notEqual(full.code, 0)
    assert.match(full.stderr, /no node fits: resources \(cpus 0, memory [\d.]+GiB\) eliminated pa, pb, pc/)
    const info = docker(['info'], denv).stdout
    assert.match(info, /└ Reserved Memory: (\d+(\.\d+)?) GiB \/ \1 GiB/)
    // Without a reservation it still fits: binpack takes the fullest machine that has room.
    const small = run(['bb:v1', ...SLEEP])
    assert.equal(machineOf(small.stdout.trim()), 'pa')
  })

  test('berth run places and starts, berth ps lists with machines; no fit creates nothing', async () => {
    const before = names(true).length
    const mem = docker(['info', '--format', '{{.MemTotal}}'], direct.pa).stdout.trim()
    const full = await berth(['run', '--swarm', SWARM, '-d', '-m', String(Math.floor(Number(mem) / 2)), 'bb:v1', ...SLEEP], {env})
    assert.equal(full.code, 1)
    assert.match(full.stderr, /^berth: no node fits: resources .* eliminated pa, pb, pc\n$/)
    const r = await berth(['run', '--swarm', SWARM, '-d', '--strategy', 'spread', '--name', 'solo', '-l', 'tier=web', 'bb:v1', ...SLEEP], {env})
    assert.equal(r.code, 0, r.stderr)
    // Spread: pa holds 3 containers, pb and pc 2 each with equal reservations; the tie goes to fewer containers, then name.
    assert.equal(r.stdout.trim(), 'pb/solo')
    const j = await berth(['run', '--machines', 'pc', '--json', '-d', '-c', '0.5', 'bb:v1', ...SLEEP], {env})
    assert.equal(j.code, 0, j.stderr)
    const placed = JSON.parse(j.stdout)
    assert.equal(placed.machine, 'pc')
    assert.equal(docker(['inspect', '--format', '{{.HostConfig.NanoCpus}}', placed.id], direct.pc).stdout.trim(), '500000000')
    const fg = await berth(['run', '--swarm', SWARM, 'bb:v1', 'sh', '-c', 'echo hi from berth run; exit 5'], {env})
    assert.equal(fg.code, 5)
    assert.equal(fg.stdout, 'hi from berth run\n')
    assert.match(fg.stderr, /^p[abc]\/\w+\n$/)
    const noImage = await berth(['run', '--swarm', SWARM, '-d', 'nope:1'], {env})
    assert.equal(noImage.code, 1)
    // Placed first, then fetched, as through the endpoint: no member has it and these hosts reach no registry; one line.
    assert.match(noImage.stderr, /^berth: cannot get nope:1 onto p[abc]: pulling it on p[abc]: [^\n]+\n$/)
    const ps = await berth(['ps', '--swarm', SWARM, '--json'], {env})
    assert.equal(ps.code, 0, ps.stderr)
    const rows = JSON.parse(ps.stdout) as Array<{machine: string; name: string; labels: Record<string, string>; state: string}>
    assert.equal(rows.length, before + 2)
    assert.deepEqual(rows.filter(x => x.name === 'solo').map(x => [x.machine, x.labels.tier]), [['pb', 'web']])
    assert.ok(rows.every(x => x.state === 'running'))
    const all = await berth(['ps', '--swarm', SWARM, '-a', '--json'], {env})
    assert.equal(JSON.parse(all.stdout).length, before + 3, 'the exited foreground container shows with -a')
    const table = await berth(['ps', '--machines', 'pb'], {env})
    assert.match(table.stdout, /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$/m)
    assert.match(table.stdout, /pb\/solo$/m)
    assert.ok(!/ p[ac]\//.test(table.stdout))
    // The docker CLI through the endpoint sees the same containers.
    assert.equal(names().length, before + 2)
  })

  test('the endpoint wants a client certificate from the store CA, and answers unsupported calls with an error', async () => {
    const port = Number(new URL(denv.DOCKER_HOST.replace('tcp:', 'https:')).port)
    const refused = await new Promise<string>(resolve => {
      const s = tls.connect({host: '127.0.0.1', port, rejectUnauthorized: false}, () => s.write('GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n'))
      let got = ''
      s.on('data', d => (got += d))
      s.on('error', err => resolve(`error: ${err.message}`))
      s.on('close', () => resolve(got ? `answered: ${got}` : 'closed'))
    })
    assert.doesNotMatch(refused, /answered/)
    const plugins = docker(['plugin', 'ls'], denv)
    assert.notEqual(plugins.code, 0)
    assert.match(plugins.stderr, /berth swarm manage does not support GET \/plugins/)
  })

  test('a machine that does not answer is reported, not fatal', async () => {
    const s = await berth(['stop', 'pc'], {env})
    assert.equal(s.code, 0, s.stderr)
    const ps = await berth(['ps', '--swarm', SWARM], {env})
    assert.equal(ps.code, 0, ps.stderr)
    assert.match(ps.stderr, /warning: pc: engine does not answer/)
    assert.match(ps.stdout, /pb\/solo/)
    const info = docker(['info'], denv).stdout
    assert.match(info, / pc: [\d.]+:2376\n\s+└ Status: Unhealthy/)
    const r = run(['-e', 'constraint:node==pc', 'bb:v1', ...SLEEP])
    assert.match(r.stderr, /no node fits: health eliminated pc/)
    const ok = run(['bb:v1', ...SLEEP])
    assert.equal(ok.code, 0, ok.stderr)
    assert.notEqual(machineOf(ok.stdout.trim()), 'pc')
  })
})
