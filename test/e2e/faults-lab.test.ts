/**
 * Lab faults of issue 16 through the real CLI: overlapping subnets, the last host's leftovers,
 * umask 000, and a dead engine behind a Running host. Subnets 172.30.112.0/24 and
 * 172.30.113.0/24 (and networks overlapping them) are this file's alone.
 */
import {after, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {berth, isRoot, labLeftovers, tmpDir} from '../helpers.js'

const skip = !isRoot() && 'lab hosts need root'
const LEASES = '/var/lib/berth-lab/leases'

describe('lab faults (issue 16)', {skip, concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('store'), BERTH_LAB_DIR: tmpDir('lab'), BERTH_LAB_SUBNET: '172.30.112.0/24'}
  const config = (n: string) => JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'machines', n, 'config.json'), 'utf8'))
  const made = new Set<string>()
  const create = async (name: string, args: string[] = []) => {
    made.add(name)
    return berth(['create', name, ...args], {env})
  }

  after(async () => {
    if (made.size) await berth(['rm', '-f', '-y', ...made], {env})
  })

  test('an overlapping subnet is refused before anything is made; host bits name the same network', async () => {
    let r = await create('ov-a')
    assert.equal(r.code, 0, r.stderr)
    const a = config('ov-a').driverData
    // Only networks inside 172.30.112.0/24: a wider one would meet other tests' bridges too.
    for (const over of ['172.30.112.0/25', '172.30.112.128/25']) {
      // Before the fix: accepted, on a bridge of its own, and given 172.30.112.2 — ov-a's address.
      r = await create('ov-bad', ['--lab-subnet', over])
      assert.notEqual(r.code, 0)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, /overlaps 172\.30\.112\.0\/24.*--lab-subnet 172\.30\.112\.0\/24/)
      assert.equal(existsSync(path.join(env.BERTH_STORAGE_PATH, 'machines', 'ov-bad')), false)
    }
    r = await create('ov-b', ['--lab-subnet', '172.30.112.77/24'])
    assert.equal(r.code, 0, r.stderr)
    const b = config('ov-b').driverData
    assert.equal(b.subnet, '172.30.112.0/24')
    assert.equal(b.bridge, a.bridge)
    assert.notEqual(b.ip, a.ip)
    assert.equal((await berth(['status', 'ov-a'], {env})).stdout.trim(), 'Running')
  })

  test('the last host of a bridge out removes its bridge and lease folder', async () => {
    const {bridge} = config('ov-a').driverData
    const ids = ['ov-a', 'ov-b'].map(n => config(n).id)
    let r = await berth(['rm', '-y', 'ov-a'], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.ok(existsSync(path.join(LEASES, bridge)), 'ov-b still leases an address there')
    r = await berth(['rm', '-y', 'ov-b'], {env})
    assert.equal(r.code, 0, r.stderr)
    made.delete('ov-a')
    made.delete('ov-b')
    // Before the fix: an empty leases/<bridge>/ folder was left for every subnet ever used.
    assert.equal(existsSync(path.join(LEASES, bridge)), false)
    assert.equal(existsSync(path.join(LEASES, `${bridge}.net`)), false)
    assert.doesNotMatch(execFileSync('ip', ['-o', 'link']).toString(), new RegExp(`\\b${bridge}\\b`))
    assert.deepEqual(labLeftovers(ids), [])
    // The network is free again: an overlapping one is taken now.
    r = await create('ov-c', ['--lab-subnet', '172.30.112.0/25'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal((await berth(['rm', '-y', 'ov-c'], {env})).code, 0)
    made.delete('ov-c')
  })

  test('under umask 000 a lab host is created and answers', async () => {
    // Before the fix: "/run/sshd must be owned by root and not group or world-writable" (the host's
    // folders took the caller's umask), so every create failed.
    const old = process.umask(0)
    let r
    try {
      r = await create('um-a', ['--lab-subnet', '172.30.113.0/24'])
    } finally {
      process.umask(old)
    }
    assert.equal(r.code, 0, r.stderr)
    r = await berth(['ssh', 'um-a', 'stat -c %a /run/sshd /etc/docker/daemon.json'], {env})
    assert.equal(r.code, 0, r.stderr)
    for (const mode of r.stdout.trim().split('\n')) assert.equal(Number.parseInt(mode, 8) & 0o022, 0, `group/world-writable: ${r.stdout}`)
    assert.equal((await berth(['rm', '-y', 'um-a'], {env})).code, 0)
    made.delete('um-a')
  })

  test('a Running host with a dead dockerd: status says so, env warns, ls keeps its columns', async () => {
    let r = await create('dk-a', ['--lab-subnet', '172.30.113.0/24'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal((await berth(['status', 'dk-a'], {env})).stdout.trim(), 'Running')
    const {initPid} = config('dk-a').driverData
    // Inside the host's own PID namespace: its dockerd only, by the PID it wrote.
    execFileSync('nsenter', ['-t', String(initPid), '-a', 'sh', '-c', 'kill -9 "$(cat /var/run/docker.pid)"'])
    // Before the fix: "Running", and env printed its exports without a word.
    r = await berth(['status', 'dk-a'], {env})
    assert.equal(r.stdout.trim(), 'Running (engine not answering)')
    const j = JSON.parse((await berth(['status', 'dk-a', '--json'], {env})).stdout)
    assert.equal(j.state, 'Running')
    assert.equal(j.engine, 'not answering')
    r = await berth(['env', 'dk-a'], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /DOCKER_HOST/)
    assert.match(r.stderr, /^warning: the engine of "dk-a" does not answer .*berth restart dk-a/)
    const row = JSON.parse((await berth(['ls', '--json'], {env})).stdout).find((x: {name: string}) => x.name === 'dk-a')
    assert.equal(row.state, 'Running')
    assert.equal(row.docker, 'Unknown')
    assert.equal((await berth(['rm', '-f', '-y', 'dk-a'], {env})).code, 0)
    made.delete('dk-a')
  })
})
