/**
 * A real VM without Docker (`berth qemu build-image --without-docker`: systemd, openssh-server,
 * cloud-init running all its stages, as a cloud's Debian image ships; cached across runs, keyed by
 * the recipe) gets Docker installed by `berth create`: apt through an apt-cacher-ng on loopback
 * that the guest reaches only through QEMU's guestfwd under restrict=on, while the user data's
 * package_update (cloud-init's apt at first boot) holds apt's lock, which berth waits out and
 * shows; the engine under systemd, the stock docker CLI over mutual TLS running a container. KVM
 * when usable, TCG otherwise.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {ACNG, type AptProxy, startAptProxy} from '../aptproxy.js'
import {berth, busyboxTar, docker, dockerEnv} from '../helpers.js'
import {ensureQemuImage, GUEST_PROXY, guestProxyArgs, killProcessesMentioning, liveProcessesMentioning, qemuImage, qemuSkip} from '../hostimages.js'

const skip = qemuSkip() || (!existsSync(ACNG) ? 'needs apt-cacher-ng' : false)
const IMAGE = qemuImage({withoutDocker: true})
const secs = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1)

// What a cloud user's first-boot data often says: refresh apt's lists (through the same proxy, the guest's only way out).
const USER_DATA = `#cloud-config
apt:
  preserve_sources_list: true
  proxy: http://${GUEST_PROXY}
  conf: |
    Acquire::Languages "none";
package_update: true
`

describe('Docker installed by berth on a qemu VM without it', {skip, concurrency: false}, () => {
  const store = mkdtempSync(path.join('/var/tmp', 'qemu-install-store-'))
  const env = {BERTH_STORAGE_PATH: store}
  const userData = path.join(store, 'user-data.yaml')
  let proxy: AptProxy | undefined
  const ssh = async (cmd: string) => {
    const r = await berth(['ssh', 'qi1', cmd], {env, timeoutMs: 120_000})
    assert.equal(r.code, 0, r.stderr)
    return r.stdout.trim()
  }

  before(async () => {
    proxy = await startAptProxy({bind: ['127.0.0.1'], cache: 'qemu'})
    // The build's downloads go through the proxy too (debootstrap and apt honour http_proxy).
    const built = await ensureQemuImage(proxy.url('127.0.0.1'), {withoutDocker: true})
    if (built !== undefined) console.log(`# image without Docker built in ${built} s: ${IMAGE}`)
    writeFileSync(userData, USER_DATA)
  })

  after(async () => {
    await berth(['rm', '-f', '-y', 'qi1'], {env, timeoutMs: 300_000})
    killProcessesMentioning(store)
    await proxy?.stop()
    rmSync(store, {recursive: true, force: true})
  })

  test('create waits out cloud-init\'s apt and says so, then installs docker.io through the guestfwd proxy; the docker CLI runs a container over mutual TLS', async () => {
    const t0 = Date.now()
    const r = await berth(['create', '-d', 'qemu', '--qemu-image', IMAGE, '--qemu-cpus', '2', '--qemu-memory', '1536', '--qemu-restrict',
      ...guestProxyArgs(proxy!.port), '--qemu-user-data-file', userData, 'qi1'], {env, timeoutMs: 1_200_000})
    const waited = Number(/qi1: package lock free after a wait of (\d+\.\d) s/.exec(r.stderr)?.[1])
    console.log(`# qemu VM without Docker: create to engine ready, install included, in ${secs(t0)} s (${waited} s of it cloud-init's apt)`)
    assert.equal(r.code, 0, r.stderr)
    // cloud-init's package_update held apt's lock during the boot: berth named the holder and measured the wait.
    assert.match(r.stderr, /qi1: waiting for the package lock: held by process \d+ \((apt-get|http|apt)\)/)
    assert.ok(waited > 0, `logged wait > 0 s: ${waited}`)
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
      'echo --', 'sudo grep -c "Running module package-update-upgrade-install" /var/log/cloud-init.log || true',
    ].join('; '))
    const [state, status, ...rest] = out.split('\n')
    assert.equal(state, 'active')
    assert.equal(status, 'install ok installed')
    const [conf, engineEnv, unitEnv, reach, aptRuns] = rest.join('\n').split('--').map(s => s.trim())
    assert.equal(aptRuns, '1', 'cloud-init ran the user data\'s package_update')
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
