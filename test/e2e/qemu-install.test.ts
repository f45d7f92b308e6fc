/**
 * A real VM without Docker (`berth qemu build-image --without-docker`: systemd, openssh-server,
 * cloud-init, as a cloud's Debian image ships; cached across runs, keyed by the recipe) gets
 * Docker installed by `berth create`: apt through an apt-cacher-ng on loopback that the guest
 * reaches only through QEMU's guestfwd under restrict=on, the engine under systemd, the stock
 * docker CLI over mutual TLS running a container. KVM when usable, TCG otherwise.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {recipeHash} from '../../drivers/qemu/image.js'
import {ACNG, type AptProxy, startAptProxy} from '../aptproxy.js'
import {berth, busyboxTar, docker, dockerEnv, isRoot} from '../helpers.js'

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}
const missing = ['qemu-system-x86_64', 'qemu-img', 'debootstrap', 'docker'].filter(c => !has(c))
const skip = !isRoot() ? 'needs root' : missing.length ? `needs ${missing.join(', ')}` : !existsSync(ACNG) ? 'needs apt-cacher-ng'
  : process.env.BERTH_SKIP_QEMU_E2E ? 'BERTH_SKIP_QEMU_E2E is set' : false

const CACHE = process.env.BERTH_TEST_CACHE ?? '/var/cache/berth-test'
const IMAGE = path.join(CACHE, `qemu-bookworm-nodocker-${recipeHash('bookworm', {withoutDocker: true})}.raw`)
/** Where the guest sees the proxy (QEMU's user network is 10.0.2.0/24; .2-.4 are taken). */
const GUEST_PROXY = '10.0.2.100:3142'
const secs = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1)

function liveProcessesMentioning(p: string): number[] {
  const out: number[] = []
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue
    try {
      if (!readFileSync(`/proc/${ent}/cmdline`, 'utf8').includes(p)) continue
      const stat = readFileSync(`/proc/${ent}/stat`, 'utf8')
      if (!stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) out.push(Number(ent))
    } catch { /* gone */ }
  }
  return out
}

describe('Docker installed by berth on a qemu VM without it', {skip, concurrency: false}, () => {
  const store = mkdtempSync(path.join('/var/tmp', 'qemu-install-store-'))
  const env = {BERTH_STORAGE_PATH: store}
  let proxy: AptProxy | undefined
  const ssh = async (cmd: string) => {
    const r = await berth(['ssh', 'qi1', cmd], {env, timeoutMs: 120_000})
    assert.equal(r.code, 0, r.stderr)
    return r.stdout.trim()
  }

  before(async () => {
    proxy = await startAptProxy({bind: ['127.0.0.1'], cache: 'qemu'})
    if (!existsSync(IMAGE)) {
      mkdirSync(CACHE, {recursive: true})
      const t0 = Date.now()
      // The build's downloads go through the proxy too (debootstrap and apt honour http_proxy).
      const r = await berth(['qemu', 'build-image', '--without-docker', IMAGE], {env: {...env, http_proxy: proxy.url('127.0.0.1')}, timeoutMs: 1_200_000})
      if (r.code !== 0 && !existsSync(IMAGE)) throw new Error(`build-image failed: ${r.stderr}`)
      console.log(`# image without Docker built in ${secs(t0)} s: ${IMAGE}`)
    }
  })

  after(async () => {
    await berth(['rm', '-f', '-y', 'qi1'], {env, timeoutMs: 300_000})
    for (const pid of liveProcessesMentioning(store)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch { /* gone */ }
    }
    await proxy?.stop()
    rmSync(store, {recursive: true, force: true})
  })

  test('create installs docker.io through the guestfwd proxy; the docker CLI runs a container over mutual TLS', async () => {
    const t0 = Date.now()
    const r = await berth(['create', '-d', 'qemu', '--qemu-image', IMAGE, '--qemu-cpus', '2', '--qemu-memory', '1536', '--qemu-restrict',
      '--qemu-guestfwd', `${GUEST_PROXY}=127.0.0.1:${proxy!.port}`, '--engine-install-proxy', `http://${GUEST_PROXY}`, 'qi1'], {env, timeoutMs: 1_200_000})
    console.log(`# qemu VM without Docker: create to engine ready, install included, in ${secs(t0)} s`)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /qi1: installing Docker \(debian packages, through the install proxy\)/)
    assert.match(r.stderr, /qi1: apt-get install docker\.io/)
    const e = await dockerEnv('qi1', env)
    assert.equal(e.DOCKER_TLS_VERIFY, '1')
    assert.equal(docker(['import', '-', 'bb:1'], e, busyboxTar()).code, 0)
    const run = docker(['run', '--rm', 'bb:1', 'echo', 'hello from a VM berth installed Docker on'], e)
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.stdout.trim(), 'hello from a VM berth installed Docker on')
  })

  test('the engine runs under systemd, apt put it there, the proxy is gone, and the guest reaches nothing else', async () => {
    const out = await ssh([
      'systemctl is-active docker', "dpkg-query -W -f='${Status}\\n' docker.io", 'ls /etc/apt/apt.conf.d', 'echo --', 'sudo cat /etc/docker/berth.env', 'echo --',
      'systemctl show docker -p Environment --value', 'echo --', 'timeout 10 bash -c "exec 3<>/dev/tcp/deb.debian.org/80" 2>/dev/null || echo direct-refused',
      // Through the proxy, anything but Debian's mirror is refused (apt-cacher-ng's ForceManaged).
      `timeout 10 bash -c 'exec 3<>/dev/tcp/${GUEST_PROXY.replace(':', '/')}; printf "GET http://example.com/ HTTP/1.0\\r\\n\\r\\n" >&3; head -1 <&3'`,
    ].join('; '))
    const [state, status, ...rest] = out.split('\n')
    assert.equal(state, 'active')
    assert.equal(status, 'install ok installed')
    const [conf, engineEnv, unitEnv, reach] = rest.join('\n').split('--').map(s => s.trim())
    assert.doesNotMatch(conf, /berth/, 'the install-only apt proxy file was removed')
    assert.doesNotMatch(engineEnv + unitEnv, /proxy/i, 'the proxy never reached the engine')
    assert.match(reach, /direct-refused/, 'restrict=on: no direct way out')
    assert.match(reach, /HTTP\/1\.[01] 403/, 'the proxy serves Debian\'s mirror only')
  })

  test('rm leaves no process and no machine', async () => {
    const r = await berth(['rm', '-f', '-y', 'qi1'], {env, timeoutMs: 300_000})
    assert.equal(r.code, 0, r.stderr)
    const end = Date.now() + 10_000
    while (liveProcessesMentioning(store).length && Date.now() < end) await new Promise(res => setTimeout(res, 200))
    assert.deepEqual(liveProcessesMentioning(store), [])
    assert.deepEqual(readdirSync(path.join(store, 'machines')), [])
  })
})
