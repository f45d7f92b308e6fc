/**
 * Real VMs: a Debian base image built by `berth qemu build-image` (cached across runs, keyed by
 * the recipe), three qemu machines made by one `berth create --swarm`, the provisioner's
 * systemd path on a real systemd guest, containers through `berth env`, a stop/start that keeps
 * data, and an rm that leaves no process or file. KVM when usable, TCG otherwise.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import path from 'node:path'
import {probeKvm, chooseAccel} from '../../drivers/qemu/accel.js'
import {berth, busyboxTar, docker, dockerEnv, sleep} from '../helpers.js'
import {ensureQemuImage, killProcessesMentioning, liveProcessesMentioning, qemuImage, qemuSkip} from '../hostimages.js'

const skip = qemuSkip()
/** Built once per machine and recipe; a changed recipe gets a new file, never a rebuild in place. */
const IMAGE = qemuImage()
const NAMES = ['q1', 'q2', 'q3']
const SWARM = 'qs'

const secs = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1)

describe('qemu driver end to end (real VMs)', {skip, concurrency: false}, () => {
  // Not under /tmp/berth-*: sweeps of other test runs' temp folders must not take a live store.
  const store = mkdtempSync(path.join('/var/tmp', 'qemu-e2e-store-'))
  const env = {BERTH_STORAGE_PATH: store}
  const log: string[] = []
  const run = async (args: string[], timeoutMs = 300_000) => {
    const r = await berth(args, {env, timeoutMs})
    log.push(`$ berth ${args.join(' ')}\n${r.stdout}${r.stderr}`)
    return r
  }
  const inspect = async (name: string) => JSON.parse((await run(['inspect', name])).stdout)
  const sshOut = async (name: string, cmd: string) => {
    const r = await run(['ssh', name, cmd])
    assert.equal(r.code, 0, `${name}: ${cmd}: ${r.stderr}`)
    return r.stdout.trim()
  }
  let imageStat: {size: number; mtimeMs: number} | undefined

  before(async () => {
    // Shared with the benchmarks; another test file building it meanwhile is waited for, not raced.
    const built = await ensureQemuImage(undefined)
    if (built !== undefined) console.log(`# base image built in ${built} s: ${IMAGE}`)
    const st = statSync(IMAGE)
    imageStat = {size: st.size, mtimeMs: st.mtimeMs}
  })

  after(async () => {
    const r = await berth(['rm', '-f', ...NAMES], {env, timeoutMs: 300_000})
    log.push(r.stderr)
    killProcessesMentioning(store)
    if (process.env.BERTH_E2E_LOG) console.log(log.join('\n'))
    rmSync(store, {recursive: true, force: true})
  })

  test('one create makes 3 VMs in one swarm, advertised on their shared segment', async () => {
    const t0 = Date.now()
    const r = await run(['create', '-d', 'qemu', '--swarm', SWARM, '--qemu-image', IMAGE, '--qemu-cpus', '1', '--qemu-memory', '1024', '--qemu-restrict', ...NAMES], 900_000)
    console.log(`# 3 VMs created, provisioned and in swarm ${SWARM} in ${secs(t0)} s`)
    assert.equal(r.code, 0, r.stderr)
    const recs = await Promise.all(NAMES.map(inspect))
    const expected = chooseAccel('auto', await probeKvm()).accel
    for (const rec of recs) {
      assert.equal(rec.state, 'Running')
      assert.equal(rec.driverData.accel, expected, 'acceleration chosen by the driver and shown by inspect')
      assert.match(rec.driverData.accelReason, /\w/)
    }
    // Fresh identity per VM: host keys and machine-ids differ although they share one base image.
    assert.equal(new Set(recs.map(x => x.ssh.hostKey.key)).size, 3)
    const ids = await Promise.all(NAMES.map(n => sshOut(n, 'cat /etc/machine-id')))
    assert.equal(new Set(ids).size, 3)
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/)
    const sw = JSON.parse((await run(['swarm', 'ls', '--json'])).stdout)
    assert.equal(sw.length, 1)
    assert.deepEqual(sw[0].managers, ['q1'])
    assert.deepEqual([...sw[0].workers].sort(), ['q2', 'q3'])
    const denv = await dockerEnv('q1', env)
    const addrs = Object.fromEntries(recs.map(x => [x.name, x.driverData.address.split('/')[0]]))
    for (const n of NAMES) {
      const node = docker(['node', 'inspect', n, '--format', '{{.Status.State}} {{.Status.Addr}}'], denv)
      assert.equal(node.code, 0, node.stderr)
      const [state, addr] = node.stdout.trim().split(' ')
      assert.equal(state, 'ready')
      // q1's own address shows as 0.0.0.0 on some engines when it is the manager; the others must be theirs.
      if (addr !== '0.0.0.0') assert.equal(addr, addrs[n], `${n} advertises its segment address`)
    }
  })

  test('the engine runs under systemd with berth\'s drop-in (the provisioner\'s systemd path)', async () => {
    // All three were provisioned alike; one is asked (each berth ssh to a TCG guest costs seconds).
    const out = await sshOut('q1', 'systemctl is-system-running; systemctl is-active docker; systemctl is-enabled docker; systemctl show docker -p DropInPaths --value; systemctl show docker -p ExecStart --value; df -B1 --output=size / | tail -1')
    const [system, active, enabled, dropins, execStart, rootBytes] = out.split('\n')
    assert.match(system, /^(running|degraded)$/)
    assert.equal(active, 'active')
    assert.equal(enabled, 'enabled')
    assert.match(dropins, /docker\.service\.d\/10-berth\.conf/)
    assert.match(execStart, /path=\/usr\/s?bin\/dockerd ; argv\[\]=\/usr\/s?bin\/dockerd ;/, 'no -H flags clashing with daemon.json')
    // The base image is 4 GiB; the overlay is --qemu-disk-size (default 20G) and cloud-init grew the root into it.
    assert.ok(Number(rootBytes) > 15 * 2 ** 30, `root filesystem grown to the disk size: ${rootBytes} bytes`)
  })

  test('a container runs on each machine through berth env', async () => {
    const tar = busyboxTar()
    for (const n of NAMES) {
      const e = await dockerEnv(n, env)
      assert.match(e.DOCKER_HOST, /^tcp:\/\/127\.0\.0\.1:\d+$/)
      assert.equal(docker(['import', '-', 'bb:1'], e, tar).code, 0)
      const r = docker(['run', '--rm', 'bb:1', 'sh', '-c', 'echo hello from $(hostname)'], e)
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /^hello from [0-9a-f]{12}$/m)
    }
  })

  test('stop powers a VM off (process gone), start brings it back with its data', async () => {
    const e = await dockerEnv('q2', env)
    assert.equal(docker(['run', '--rm', '-v', 'keep:/d', 'bb:1', 'sh', '-c', 'echo kept > /d/f'], e).code, 0)
    const before = (await inspect('q2')).driverData
    let t0 = Date.now()
    const s = await run(['stop', 'q2'])
    console.log(`# stop (ACPI power-off) in ${secs(t0)} s`)
    assert.equal(s.code, 0, s.stderr)
    assert.equal((await run(['status', 'q2'])).stdout.trim(), 'Stopped')
    assert.deepEqual(liveProcessesMentioning(path.join(store, 'machines', 'q2')), [])
    t0 = Date.now()
    const st = await run(['start', 'q2'], 600_000)
    console.log(`# start to engine ready in ${secs(t0)} s`)
    assert.equal(st.code, 0, st.stderr)
    const afterStart = (await inspect('q2')).driverData
    assert.notEqual(afterStart.pid, before.pid)
    assert.equal(afterStart.address, before.address)
    const e2 = await dockerEnv('q2', env)
    const r = docker(['run', '--rm', '-v', 'keep:/d', 'bb:1', 'cat', '/d/f'], e2)
    assert.equal(r.stdout.trim(), 'kept', r.stderr)
    const denv = await dockerEnv('q1', env)
    const end = Date.now() + 120_000
    let state = ''
    while (Date.now() < end && state !== 'ready') {
      state = docker(['node', 'inspect', 'q2', '--format', '{{.Status.State}}'], denv).stdout.trim()
      if (state !== 'ready') await sleep(2000)
    }
    assert.equal(state, 'ready', 'q2 rejoined its swarm after the restart')
  })

  test('rm leaves no process, disk, seed or lease; the base image is untouched', async () => {
    const t0 = Date.now()
    const r = await run(['rm', '-f', ...NAMES])
    console.log(`# rm of 3 VMs in ${secs(t0)} s`)
    assert.equal(r.code, 0, r.stderr)
    const end = Date.now() + 10_000
    while (liveProcessesMentioning(store).length && Date.now() < end) await sleep(200)
    assert.deepEqual(liveProcessesMentioning(store), [])
    assert.deepEqual(readdirSync(path.join(store, 'machines')), [])
    assert.deepEqual(JSON.parse(readFileSync(path.join(store, 'qemu', 'leases.json'), 'utf8')), {})
    const st = statSync(IMAGE)
    assert.deepEqual({size: st.size, mtimeMs: st.mtimeMs}, imageStat)
  })

  test('KVM forced on a host whose KVM cannot run guests fails at once, clearly, leaving nothing', {skip: false}, async (t) => {
    const probe = await probeKvm()
    if (probe.devKvm !== 'usable' || chooseAccel('auto', probe).accel === 'kvm') return t.skip('only on hosts with an unusable /dev/kvm')
    const t0 = Date.now()
    const r = await run(['create', '-d', 'qemu', '--qemu-image', IMAGE, '--qemu-accel', 'kvm', '--qemu-memory', '512', '--qemu-restrict', 'k1'], 300_000)
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /--qemu-accel kvm: the CPU offers no vmx\/svm/)
    assert.match(r.stderr, /berth: .*(KVM internal error|QEMU exited|stopped while booting).*--qemu-accel tcg/)
    assert.ok(Date.now() - t0 < 120_000, 'not left waiting for an SSH that never comes')
    assert.deepEqual(readdirSync(path.join(store, 'machines')), [])
    assert.deepEqual(liveProcessesMentioning(store), [])
  })
})
