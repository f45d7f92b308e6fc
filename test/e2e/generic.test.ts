/**
 * The generic driver against hosts this test builds by hand (namespaces + sshd, no berth
 * code), one with sshd on a non-default port; and host-key pinning.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {mkdirSync, writeFileSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {berth, busyboxTar, docker, dockerEnv, isRoot, sleep, tmpDir} from '../helpers.js'

interface HandHost {
  ns: string
  ip: string
  port: number
  dir: string
  initPid: number
}

const SUBNET = '172.30.84'
const BR = 'bgentest0'

function sh(script: string): string {
  return execFileSync('bash', ['-euc', script]).toString()
}

/** A host made the way an admin would by hand: netns, private mounts, sshd. */
async function handHost(n: number, port: number, pubKey: string): Promise<HandHost> {
  const dir = tmpDir(`hand${n}`)
  const ns = `bgen-${process.pid}-${n}`
  const ip = `${SUBNET}.${10 + n}`
  for (const d of ['etc-docker', 'docker', 'log', 'ssh']) mkdirSync(path.join(dir, d))
  // The bind-mount targets: a fresh box whose dockerd never ran has no /var/lib/docker yet.
  for (const d of ['/etc/docker', '/var/lib/docker']) mkdirSync(d, {recursive: true})
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'ssh', 'hostkey')])
  writeFileSync(path.join(dir, 'ssh', 'authorized_keys'), pubKey)
  writeFileSync(path.join(dir, 'ssh', 'sshd_config'), `Port ${port}\nHostKey ${dir}/ssh/hostkey\nAuthorizedKeysFile ${dir}/ssh/authorized_keys\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nPidFile /run/sshd.pid\nSubsystem sftp internal-sftp\n`)
  sh(`ip link show ${BR} >/dev/null 2>&1 || { ip link add ${BR} type bridge; ip addr add ${SUBNET}.1/24 dev ${BR}; ip link set ${BR} up; }
ip netns add ${ns}
ip link add vg${process.pid % 10000}x${n} type veth peer name eth0 netns ${ns}
ip link set vg${process.pid % 10000}x${n} master ${BR} up
ip -n ${ns} addr add ${ip}/24 dev eth0; ip -n ${ns} link set eth0 up; ip -n ${ns} link set lo up`)
  const init = `read -r pid rest < /proc/self/stat; mount --make-rprivate /; mount --bind ${dir}/etc-docker /etc/docker; mount --bind ${dir}/docker /var/lib/docker; mount --bind ${dir}/log /var/log; mount -t tmpfs tmpfs /run; mkdir -p /run/sshd; mount -t proc proc /proc; echo $pid; exec perl -e 'while (1) { sleep 1 if wait() == -1 }' >/dev/null`
  const child = spawn('nsenter', [`--net=/run/netns/${ns}`, 'unshare', '--mount', '--pid', '--fork', 'sh', '-c', init], {detached: true, stdio: ['ignore', 'pipe', 'inherit']})
  const initPid = await new Promise<number>(resolve => child.stdout.once('data', d => resolve(Number(String(d).trim()))))
  child.unref()
  execFileSync('nsenter', ['-t', String(initPid), '-a', '/usr/sbin/sshd', '-f', path.join(dir, 'ssh', 'sshd_config')])
  return {ns, ip, port, dir, initPid}
}

function destroyHand(h: HandHost): void {
  try {
    process.kill(h.initPid, 'SIGKILL')
  } catch { /* gone */ }
  sh(`ip netns del ${h.ns} 2>/dev/null || true`)
}

describe('generic driver end to end', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('gstore')}
  const keyDir = tmpDir('gkey')
  const key = path.join(keyDir, 'id_ed25519')
  const hosts: HandHost[] = []

  before(async () => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])
    const pub = readFileSync(key + '.pub', 'utf8')
    hosts.push(await handHost(1, 22, pub), await handHost(2, 2222, pub))
  })

  after(async () => {
    await berth(['rm', '-f', 'g1', 'g2'], {env})
    for (const h of hosts) destroyHand(h)
    await sleep(200)
    sh(`ip link del ${BR} 2>/dev/null || true`)
  })

  test('provisions hand-made hosts, one with sshd on a non-default port', async () => {
    const results = await Promise.all(hosts.map((h, i) => berth(['create', '-d', 'generic', '--generic-ip-address', h.ip, '--generic-ssh-port', String(h.port), '--generic-ssh-key', key, `g${i + 1}`], {env: {...env, SSH_AUTH_SOCK: ''}})))
    for (const r of results) assert.equal(r.code, 0, r.stderr)
    const image = busyboxTar()
    for (const n of ['g1', 'g2']) {
      const denv = await dockerEnv(n, env)
      assert.equal(docker(['import', '-', 'bb:v1'], denv, image).code, 0)
      const run = docker(['run', '--rm', 'bb:v1', 'echo', `hi-${n}`], denv)
      assert.equal(run.stdout.trim(), `hi-${n}`, run.stderr)
    }
    const insp = JSON.parse((await berth(['inspect', 'g2'], {env})).stdout)
    assert.equal(insp.driverData.port, 2222)
  })

  test('start/stop are refused with a clear message for generic machines', async () => {
    const r = await berth(['stop', 'g1'], {env})
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /generic driver cannot stop/)
  })

  test('a changed host key is refused, naming both fingerprints', async () => {
    const h = hosts[1]
    const pinned = JSON.parse((await berth(['inspect', 'g2'], {env})).stdout).ssh.hostKey.fingerprint
    // The host is "rebuilt": a new host key, sshd restarted.
    execFileSync('rm', ['-f', path.join(h.dir, 'ssh', 'hostkey'), path.join(h.dir, 'ssh', 'hostkey.pub')])
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(h.dir, 'ssh', 'hostkey')])
    execFileSync('nsenter', ['-t', String(h.initPid), '-a', 'sh', '-c', `kill $(cat /run/sshd.pid); sleep 0.2; /usr/sbin/sshd -f ${h.dir}/ssh/sshd_config`])
    const r = await berth(['ssh', 'g2', 'true'], {env})
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /host key of .* changed: expected SHA256:\S+, got SHA256:\S+/)
    assert.ok(r.stderr.includes(pinned))
    const fresh = execFileSync('ssh-keygen', ['-lf', path.join(h.dir, 'ssh', 'hostkey.pub')]).toString().split(' ')[1]
    assert.ok(r.stderr.includes(fresh))
  })

  test('rm --deprovision stops the engine and removes what berth wrote, the host stays', async () => {
    // g2's host key changed above: re-pin by removing the record and creating again.
    const rm = await berth(['rm', '-f', 'g2'], {env})
    assert.equal(rm.code, 0, rm.stderr)
    const h = hosts[1]
    const c = await berth(['create', '-d', 'generic', '--generic-ip-address', h.ip, '--generic-ssh-port', String(h.port), '--generic-ssh-key', key, 'g2'], {env: {...env, SSH_AUTH_SOCK: ''}})
    assert.equal(c.code, 0, c.stderr)
    const r = await berth(['rm', '-y', '--deprovision', 'g2'], {env})
    assert.equal(r.code, 0, r.stderr)
    const left = execFileSync('nsenter', ['-t', String(h.initPid), '-a', 'sh', '-c', 'ls /etc/docker; pid=$(cat /var/run/docker.pid 2>/dev/null); [ -n "$pid" ] && kill -0 $pid 2>/dev/null && echo running || echo stopped']).toString()
    // key.json is dockerd's own identity, not berth's.
    assert.deepEqual(left.trim().split('\n').filter(f => f !== 'key.json'), ['stopped'])
  })

  test('rm leaves the generic host as it is', async () => {
    const r = await berth(['rm', '-y', 'g1'], {env})
    assert.equal(r.code, 0, r.stderr)
    const alive = execFileSync('nsenter', ['-t', String(hosts[0].initPid), '-a', 'sh', '-c', 'cat /var/run/docker.pid >/dev/null && echo up']).toString().trim()
    assert.equal(alive, 'up')
  })
})
