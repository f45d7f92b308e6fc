/**
 * The qemu driver's lifecycle against a stand-in QEMU (fake-qemu.ts): launch, boot watch, QMP
 * state and power-off, kill, remove, port races and the failures a real VM can report.
 * Real qemu-img makes the overlays. The real-VM path is test/e2e/qemu.test.ts.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, promises as fs, readFileSync, writeFileSync, utimesSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import type {DriverContext, MachineHandle} from '../../src/sdk/driver.js'
import driver, {type QemuData} from '../../drivers/qemu/driver.js'
import {readIso} from '../cloudinit/read-iso.js'
import {alive, launch, powerOff, qemuArgs, type VmSpec} from '../../drivers/qemu/vm.js'
import {tmpDir} from '../helpers.js'

const hasQemuImg = (() => {
  try {
    execFileSync('qemu-img', ['--version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
})()

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fake-qemu.js')

/** Run fn with the stand-in QEMU in one of its failure modes (see fake-qemu.ts). */
async function asFakeMode(mode: string, fn: () => Promise<void>): Promise<void> {
  process.env.FAKE_QEMU_MODE = mode
  try {
    await fn()
  } finally {
    delete process.env.FAKE_QEMU_MODE
  }
}

describe('qemu driver lifecycle (stand-in QEMU)', {skip: !hasQemuImg && 'qemu-img is not installed'}, () => {
  const root = tmpDir('qemu-drv')
  const store = path.join(root, 'store')
  const base = path.join(root, 'base.raw')
  const bin = path.join(root, 'qemu-fake')
  const calls = path.join(root, 'calls.jsonl')
  const started: number[] = []

  before(() => {
    writeFileSync(base, Buffer.alloc(1 << 20))
    writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" "${FAKE}" "$@"\n`, {mode: 0o755})
    process.env.FAKE_QEMU_CALLS = calls
  })

  after(() => {
    // Only stand-ins this test started: a PID may have been reused by anything since.
    for (const pid of started) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(FAKE)) process.kill(pid, 'SIGKILL')
      } catch { /* gone */ }
    }
    delete process.env.FAKE_QEMU_MODE
    delete process.env.FAKE_QEMU_CALLS
    delete process.env.FAKE_QEMU_FAIL_ONCE
  })

  const options = (extra: Record<string, unknown> = {}) => ({
    'qemu-image': base, 'qemu-memory': 512, 'qemu-cpus': 1, 'qemu-disk-size': '2G', 'qemu-accel': 'tcg',
    'qemu-subnet': '192.168.76.0/24', 'qemu-restrict': true, 'qemu-binary': bin, ...extra,
  })

  async function make(name: string, extra: Record<string, unknown> = {}) {
    const machineDir = path.join(store, 'machines', name)
    mkdirSync(machineDir, {recursive: true})
    const machineId = Buffer.from(name.padEnd(6, '0')).toString('hex').slice(0, 12)
    const warnings: string[] = []
    let saved = (await driver.preCreate(options(extra), {machineName: name, machineId, warn: m => warnings.push(m)})).data
    const driverDir = path.join(store, 'qemu')
    const ctx: DriverContext<QemuData> = {
      machineName: name, machineId, machineDir, driverDir, sshPublicKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests berth-${name}`,
      signal: new AbortController().signal, save: async data => {
        saved = data
      }, log: () => {}, debug: () => {}, warn: m => warnings.push(m),
    }
    const handle = (): MachineHandle<QemuData> => ({
      machineName: name, machineId, machineDir, driverDir, data: saved, log: () => {}, debug: () => {}, save: async data => {
        saved = data
      },
    })
    return {ctx, handle, get data() {
      return saved
    }, set data(d: QemuData) {
      saved = d
    }, warnings, create: async () => {
      try {
        saved = await driver.create(ctx, saved)
      } finally {
        const pid = saved.pid
        if (pid) started.push(pid)
      }
    }}
  }

  test('create boots through an overlay and a cidata seed, and reports Running', async () => {
    const m = await make('q1')
    await m.create()
    const q = m.data
    assert.equal(q.accel, 'tcg')
    assert.match(q.address!, /^192\.168\.76\.\d+\/24$/)
    assert.ok(q.sshPort! > 0 && q.enginePort! > 0 && q.sshPort !== q.enginePort)
    assert.equal(await driver.state(m.handle()), 'Running')
    assert.deepEqual(await driver.sshEndpoint(m.handle()), {host: '127.0.0.1', port: q.sshPort, user: 'berth'})
    assert.equal(await driver.ip(m.handle()), '127.0.0.1')
    assert.equal(driver.enginePort!(m.handle()), q.enginePort)
    assert.equal(await driver.swarmAddress!(m.handle()), q.address!.split('/')[0])
    // The overlay is thin and backed by the base; the base is untouched.
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', q.overlay!]).toString())
    assert.equal(info.format, 'qcow2')
    assert.equal(info['backing-filename'], base)
    assert.equal(info['virtual-size'], 2 * 2 ** 30)
    const seed = readIso(readFileSync(q.seed!))
    assert.equal(seed.volumeId, 'cidata')
    assert.match(seed.files['user-data'].toString(), /FakeKeyForTests berth-q1/)
    assert.match(seed.files['network-config'].toString(), new RegExp(q.address!.replace(/\./g, '\\.')))
    // What QEMU was asked for.
    const argv: string[] = JSON.parse(readFileSync(calls, 'utf8').trim().split('\n').pop()!)
    assert.equal(argv[argv.indexOf('-accel') + 1], 'tcg')
    assert.ok(argv.some(a => a.startsWith('user,id=nat,restrict=on,') && a.includes(`hostfwd=tcp:127.0.0.1:${q.sshPort}-:22`) && a.includes(`hostfwd=tcp:127.0.0.1:${q.enginePort}-:2376`)), argv.join(' '))
    assert.ok(argv.some(a => a === `socket,id=lan,mcast=${q.segment!.group}:${q.segment!.port},localaddr=127.0.0.1`))
  })

  test('stop presses the power button and the process goes; start brings it back; kill; restart', async () => {
    const m = await make('q2')
    await m.create()
    const p1 = {pid: m.data.pid, pidStart: m.data.pidStart}
    assert.equal(await alive(p1), true)
    await driver.stop(m.handle())
    assert.equal(await alive(p1), false)
    assert.equal(m.data.pid, undefined)
    assert.equal(await driver.state(m.handle()), 'Stopped')
    await driver.start(m.handle())
    started.push(m.data.pid!)
    assert.notEqual(m.data.pid, p1.pid)
    assert.equal(await driver.state(m.handle()), 'Running')
    await driver.restart(m.handle())
    started.push(m.data.pid!)
    assert.equal(await driver.state(m.handle()), 'Running')
    const p2 = {pid: m.data.pid, pidStart: m.data.pidStart}
    await driver.kill(m.handle())
    assert.equal(await driver.state(m.handle()), 'Stopped')
    assert.equal(await alive(p2), false)
  })

  test('remove kills the process and deletes overlay, seed and logs; the address is free again', async () => {
    const m = await make('q3')
    await m.create()
    const {pid, pidStart, overlay, seed, address} = m.data
    const left = await driver.remove(m.handle())
    assert.deepEqual(left, [])
    assert.equal(await alive({pid, pidStart}), false)
    for (const f of [overlay!, seed!, path.join(m.ctx.machineDir, 'console.log'), path.join(m.ctx.machineDir, 'qemu.log')]) assert.equal(existsSync(f), false, f)
    const leases = JSON.parse(readFileSync(path.join(store, 'qemu', 'leases.json'), 'utf8'))
    assert.ok(!Object.values(leases).some((l: any) => l.address === address))
    assert.equal(await driver.state(m.handle()), 'NotFound')
  })

  test('a VM that logs "KVM internal error" is stopped with a message naming the fix', async () => {
    await asFakeMode('kvm-error', async () => {
      const m = await make('k1')
      await assert.rejects(m.create(), /KVM internal error.*--qemu-accel tcg/)
      assert.equal(await alive(m.data), false, 'the hung VM must not be left running')
      assert.deepEqual(await driver.remove(m.handle()), [])
    })
  })

  test('a KVM internal error after boot: state says why, stop ends the hung VM at once', async () => {
    await asFakeMode('late-kvm-error', async () => {
      const m = await make('k2')
      await m.create()
      await new Promise(r => setTimeout(r, 2000))
      await assert.rejects(driver.state(m.handle()), /KVM internal error.*--qemu-accel tcg.*berth stop/)
      const p = {pid: m.data.pid, pidStart: m.data.pidStart}
      const said: string[] = []
      const t0 = Date.now()
      await driver.stop({...m.handle(), log: s => said.push(s)})
      assert.ok(Date.now() - t0 < 10_000, 'no wait for a power button nobody hears')
      assert.match(said.join('\n'), /KVM internal error.*killing it/)
      assert.equal(await alive(p), false)
      assert.equal(await driver.state(m.handle()), 'Stopped')
      await driver.remove(m.handle())
    })
  })

  test('a guest kernel panic ends the boot wait with the panic line', async () => {
    await asFakeMode('panic', async () => {
      const m = await make('p1')
      await assert.rejects(m.create(), /Kernel panic - not syncing: VFS: Unable to mount root fs/)
      assert.equal(await alive(m.data), false)
      await driver.remove(m.handle())
    })
  })

  test('a loopback port taken between lease and launch is replaced', async () => {
    const flag = path.join(root, 'fail-once')
    writeFileSync(flag, '')
    process.env.FAKE_QEMU_FAIL_ONCE = flag
    try {
      const m = await make('r1')
      await m.create()
      assert.equal(existsSync(flag), false, 'the first launch failed as planned')
      assert.equal(await driver.state(m.handle()), 'Running')
      await driver.remove(m.handle())
    } finally {
      delete process.env.FAKE_QEMU_FAIL_ONCE
    }
  })

  test('a base image changed under a machine is refused at start, not booted into corruption', async () => {
    const own = path.join(root, 'base2.raw')
    writeFileSync(own, Buffer.alloc(1 << 20))
    const m = await make('b1', {'qemu-image': own})
    await m.create()
    await driver.stop(m.handle())
    utimesSync(own, new Date(), new Date(Date.now() + 5000))
    await assert.rejects(driver.start(m.handle()), /changed since this machine was made.*new file name/)
    await driver.remove(m.handle())
  })

  test('machines of one store get distinct addresses and ports, even created at once', async () => {
    const ms = await Promise.all(['c1', 'c2', 'c3', 'c4'].map(n => make(n)))
    await Promise.all(ms.map(m => m.create()))
    const addrs = ms.map(m => m.data.address)
    const ports = ms.flatMap(m => [m.data.sshPort, m.data.enginePort])
    assert.equal(new Set(addrs).size, 4)
    assert.equal(new Set(ports).size, 8)
    assert.equal(new Set(ms.map(m => JSON.stringify(m.data.segment))).size, 1, 'one segment per store')
    for (const m of ms) assert.deepEqual(await driver.remove(m.handle()), [])
  })

  test('preCreate refuses what cannot work, before anything is made', async () => {
    const ctx = {machineName: 'x', machineId: 'aa', warn: () => {}}
    await assert.rejects(driver.preCreate(options({'qemu-image': undefined}), ctx), /--qemu-image is required/)
    await assert.rejects(driver.preCreate(options({'qemu-image': path.join(root, 'nope.raw')}), ctx), /does not exist/)
    await assert.rejects(driver.preCreate(options({'qemu-accel': 'hvf'}), ctx), /bad --qemu-accel "hvf"/)
    await assert.rejects(driver.preCreate(options({'qemu-cpu-model': 'max; reboot'}), ctx), /bad --qemu-cpu-model "max; reboot"/)
    await assert.rejects(driver.preCreate(options({'qemu-memory': 16}), ctx), /--qemu-memory/)
    await assert.rejects(driver.preCreate(options({'qemu-subnet': '10.0.0.0/8'}), ctx), /--qemu-subnet/)
    await assert.rejects(driver.preCreate(options({'qemu-disk-size': 'big'}), ctx), /--qemu-disk-size/)
    await assert.rejects(driver.preCreate(options({'qemu-binary': path.join(root, 'no-qemu')}), ctx), /cannot run .*no-qemu/)
    const vdi = path.join(root, 'disk.vdi')
    execFileSync('qemu-img', ['create', '-q', '-f', 'vdi', vdi, '16M'])
    await assert.rejects(driver.preCreate(options({'qemu-image': vdi}), ctx), /is vdi: use a raw or qcow2 image/)
    await assert.rejects(driver.preCreate(options({'qemu-user-data-file': path.join(root, 'no-ud')}), ctx), /cannot read --qemu-user-data-file .*no-ud: no such file/)
    writeFileSync(path.join(root, 'bad-ud'), 'package_update: true\n')
    await assert.rejects(driver.preCreate(options({'qemu-user-data-file': path.join(root, 'bad-ud')}), ctx), /is neither a #cloud-config nor a #! script/)
  })

  test('--qemu-user-data-file: the user\'s part goes into the seed beside berth\'s; only its path is kept', async () => {
    const file = path.join(root, 'ud.yaml')
    writeFileSync(file, '#cloud-config\npackage_update: true\n')
    const m = await make('qud', {'qemu-user-data-file': file})
    assert.equal(m.data.userDataFile, file)
    assert.doesNotMatch(JSON.stringify(m.data), /package_update/)
    await m.create()
    const ud = readIso(readFileSync(m.data.seed!)).files['user-data'].toString()
    assert.match(ud, /^Content-Type: multipart\/mixed/)
    assert.match(ud, /package_update: true/)
    assert.match(ud, /FakeKeyForTests berth-qud/)
    await driver.remove(m.handle())
  })

  test('power-off of a guest that ignores the button ends in a kill after the timeout', async () => {
    const dir = path.join(root, 'deaf')
    await fs.mkdir(dir, {recursive: true})
    await asFakeMode('deaf', async () => {
      const spec: VmSpec = {
        name: 'deaf', binary: bin, accel: 'tcg', memoryMb: 256, cpus: 1, overlay: 'x', seed: 'y', restrict: true,
        sshPort: 0, enginePort: 0, natMac: '52:54:00:00:00:01', lanMac: '52:54:00:00:00:02', segment: {group: '239.255.1.1', port: 30000},
        console: path.join(dir, 'console.log'), qmpSocket: path.join(dir, 'qmp.sock'),
      }
      const p = await launch(spec, dir, path.join(dir, 'qemu.log'))
      started.push(p.pid)
      const said: string[] = []
      const t0 = Date.now()
      await powerOff(p, spec.qmpSocket, 600, m => said.push(m))
      assert.ok(Date.now() - t0 >= 600)
      assert.equal(await alive(p), false)
      assert.match(said.join('\n'), /did not power off within 1 s: killing it/)
    })
  })

  test('qemuArgs: KVM uses the host CPU, direct kernel boot when the image has one, no restrict by default', () => {
    const s: VmSpec = {
      name: 'a', binary: 'q', accel: 'kvm', memoryMb: 2048, cpus: 2, overlay: '/d/disk.qcow2', seed: '/d/seed.iso', restrict: false,
      sshPort: 2222, enginePort: 2376, natMac: '52:54:00:00:00:01', lanMac: '52:54:c0:a8:4c:02', segment: {group: '239.255.9.9', port: 31000},
      console: '/d/console.log', qmpSocket: '/d/qmp.sock', kernel: '/i.vmlinuz', initrd: '/i.initrd', cmdline: 'root=LABEL=x rw',
    }
    const a = qemuArgs(s)
    const val = (f: string) => a[a.indexOf(f) + 1]
    assert.equal(val('-accel'), 'kvm')
    assert.equal(val('-cpu'), 'host')
    assert.equal(val('-smp'), '2')
    assert.equal(val('-m'), '2048')
    assert.equal(val('-kernel'), '/i.vmlinuz')
    assert.equal(val('-append'), 'root=LABEL=x rw')
    assert.equal(val('-qmp'), 'unix:/d/qmp.sock,server=on,wait=off')
    assert.ok(a.includes('user,id=nat,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:2376-:2376'))
    assert.ok(a.includes('if=virtio,file=/d/seed.iso,format=raw,readonly=on'))
    assert.equal(qemuArgs({...s, accel: 'tcg', kernel: undefined}).includes('-kernel'), false)
    assert.equal(qemuArgs({...s, accel: 'tcg'})[a.indexOf('-cpu') + 1], 'Nehalem', 'TCG: a lean model, not max')
    assert.equal(qemuArgs({...s, accel: 'tcg', cpuModel: 'max'})[a.indexOf('-cpu') + 1], 'max', '--qemu-cpu-model wins')
    // A comma in a path would end QEMU's option value: it is doubled.
    assert.ok(qemuArgs({...s, overlay: '/a,b/disk.qcow2'}).includes('if=virtio,file=/a,,b/disk.qcow2,format=qcow2,discard=unmap'))
  })
})
