/**
 * The virtualbox driver against a stand-in VBoxManage on PATH (test/fixtures/virtualbox), which
 * records every call and rejects any that VBoxManage's documented syntax does not allow.
 * VirtualBox itself cannot run here: this proves the calls and the lifecycle logic, not a real VM.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import type {DriverContext, MachineHandle} from '../../src/sdk/driver.js'
import driver, {detectFormat, type VBoxData} from '../../drivers/virtualbox/driver.js'
import {parseBlocks, parseMachineReadable} from '../../drivers/virtualbox/vbox.js'
import {checkSyntax} from '../fixtures/virtualbox/fake-vboxmanage.js'
import {readIso} from '../cloudinit/read-iso.js'
import {ROOT, tmpDir} from '../helpers.js'

const FAKE = path.join(ROOT, 'dist', 'test', 'fixtures', 'virtualbox', 'fake-vboxmanage.js')

describe('virtualbox driver against a stand-in VBoxManage', () => {
  const root = tmpDir('vbox')
  const bin = path.join(root, 'bin')
  const vboxDir = path.join(root, 'vbox')
  const store = path.join(root, 'store')
  const image = path.join(root, 'debian-12-genericcloud-amd64.raw')
  const oldPath = process.env.PATH

  before(() => {
    mkdirSync(bin, {recursive: true})
    writeFileSync(path.join(bin, 'VBoxManage'), `#!/bin/sh\nexec "${process.execPath}" "${FAKE}" "$@"\n`, {mode: 0o755})
    writeFileSync(image, Buffer.alloc(3 << 20))
    process.env.PATH = `${bin}:${oldPath}`
    process.env.FAKE_VBOX_DIR = vboxDir
  })

  after(() => {
    // Guests still "running" (a failed assertion) are processes: end them by PID.
    const state = existsSync(path.join(vboxDir, 'state.json')) ? JSON.parse(readFileSync(path.join(vboxDir, 'state.json'), 'utf8')) : {vms: {}}
    for (const vm of Object.values(state.vms) as Array<{pid?: number}>) {
      try {
        // Only the stand-in's guests: a PID may have been reused by anything since.
        if (vm.pid && readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').includes(FAKE)) process.kill(vm.pid, 'SIGKILL')
      } catch { /* gone */ }
    }
    process.env.PATH = oldPath
    delete process.env.FAKE_VBOX_DIR
  })

  const calls = (): string[][] => readFileSync(path.join(vboxDir, 'calls.jsonl'), 'utf8').trim().split('\n').map(l => JSON.parse(l))
  const violations = (): string[] => existsSync(path.join(vboxDir, 'violations.jsonl')) ? readFileSync(path.join(vboxDir, 'violations.jsonl'), 'utf8').trim().split('\n') : []

  async function make(name: string, extra: Record<string, unknown> = {}) {
    const machineDir = path.join(store, 'machines', name)
    mkdirSync(machineDir, {recursive: true})
    const machineId = Buffer.from(name.padEnd(6, '0')).toString('hex').slice(0, 12)
    let {data: saved} = await driver.preCreate({
      'virtualbox-image': image, 'virtualbox-memory': 1024, 'virtualbox-cpu-count': 1, 'virtualbox-disk-size': 20000,
      'virtualbox-hostonly-cidr': '192.168.56.1/24', 'virtualbox-ostype': 'Debian_64', ...extra,
    }, {machineName: name, machineId, warn: () => {}})
    const driverDir = path.join(store, 'virtualbox')
    const ctx: DriverContext<VBoxData> = {
      machineName: name, machineId, machineDir, driverDir, sshPublicKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeVBoxKey berth-${name}`,
      signal: new AbortController().signal, save: async x => {
        saved = x
      }, log: () => {}, debug: () => {}, warn: () => {},
    }
    const handle = (): MachineHandle<VBoxData> => ({machineName: name, machineId, machineDir, driverDir, data: saved, log: () => {}, debug: () => {}, save: async x => {
      saved = x
    }})
    return {ctx, handle, get data() {
      return saved
    }, create: async () => {
      saved = await driver.create(ctx, saved)
    }}
  }

  test('create: clone, VM with NAT SSH forward + host-only NIC, seed as DVD, headless start; every call valid', async () => {
    const m = await make('v1')
    await m.create()
    const v = m.data
    assert.equal(await driver.state(m.handle()), 'Running')
    assert.match(v.address!, /^192\.168\.56\.(\d+)\/24$/)
    assert.equal(await driver.ip(m.handle()), v.address!.split('/')[0])
    assert.deepEqual(await driver.sshEndpoint(m.handle()), {host: '127.0.0.1', port: v.sshPort, user: 'berth'})
    assert.equal(driver.enginePort, undefined, 'the engine is reached on the host-only address, port 2376')
    assert.deepEqual(violations(), [])
    const c = calls()
    const find = (cmd: string, ...has: string[]) => c.find(a => a[0] === cmd && has.every(h => a.includes(h)))
    assert.ok(find('createvm', '--name', v.vmName, '--register', '--basefolder', m.ctx.machineDir))
    assert.ok(find('hostonlyif', 'create'))
    assert.ok(find('hostonlyif', 'ipconfig', 'vboxnet0', '--ip', '192.168.56.1', '--netmask', '255.255.255.0'))
    assert.ok(find('convertfromraw', image, v.disk!, '--format', 'VDI'), 'a raw image is converted, not cloned')
    assert.ok(find('modifymedium', 'disk', v.disk!, '--resize', '20000'))
    const mod = find('modifyvm', v.uuid!)!
    const val = (f: string) => mod[mod.indexOf(f) + 1]
    assert.equal(val('--nic1'), 'nat')
    assert.equal(val('--natpf1'), `ssh,tcp,127.0.0.1,${v.sshPort},,22`)
    assert.equal(val('--nic2'), 'hostonly')
    assert.equal(val('--hostonlyadapter2'), 'vboxnet0')
    assert.equal(val('--macaddress2'), v.lanMac!.replace(/:/g, '').toUpperCase())
    assert.equal(val('--memory'), '1024')
    assert.ok(find('storageattach', v.uuid!, '--type', 'hdd', '--medium', v.disk!))
    assert.ok(find('storageattach', v.uuid!, '--type', 'dvddrive', '--medium', v.seed!))
    assert.ok(find('startvm', v.uuid!, '--type', 'headless'))
    // The seed is the same cloud-init NoCloud seed as the qemu driver's, with the host-only address.
    const seed = readIso(readFileSync(v.seed!))
    assert.equal(seed.volumeId, 'cidata')
    assert.match(seed.files['network-config'].toString(), new RegExp(v.address!.replace(/\./g, '\\.')))
    assert.match(seed.files['user-data'].toString(), /FakeVBoxKey berth-v1/)
  })

  test('stop (ACPI button), start, restart, kill, and rm leaves no VM, file or lease', async () => {
    const m = await make('v2')
    await m.create()
    const v = m.data
    await driver.stop(m.handle())
    assert.equal(await driver.state(m.handle()), 'Stopped')
    assert.ok(calls().some(a => a[0] === 'controlvm' && a[1] === v.uuid && a[2] === 'acpipowerbutton'))
    await driver.start(m.handle())
    assert.equal(await driver.state(m.handle()), 'Running')
    await driver.restart(m.handle())
    assert.equal(await driver.state(m.handle()), 'Running')
    await driver.kill(m.handle())
    assert.equal(await driver.state(m.handle()), 'Stopped')
    assert.ok(calls().some(a => a[0] === 'controlvm' && a[1] === v.uuid && a[2] === 'poweroff'))
    await driver.start(m.handle())
    // rm of a running VM powers it off first, then unregisters it with its disk.
    assert.deepEqual(await driver.remove(m.handle()), [])
    assert.ok(calls().some(a => a[0] === 'unregistervm' && a[1] === v.uuid && a[2] === '--delete'))
    assert.equal(await driver.state(m.handle()), 'NotFound')
    for (const f of [v.disk!, v.seed!, path.join(m.ctx.machineDir, v.vmName)]) assert.equal(existsSync(f), false, f)
    const leases = JSON.parse(readFileSync(path.join(store, 'virtualbox', 'leases.json'), 'utf8'))
    assert.ok(!Object.values(leases).some((l: any) => l.address === v.address))
    assert.deepEqual(violations(), [])
  })

  test('the store\'s VMs share one host-only interface and get distinct addresses', async () => {
    const a = await make('v3')
    const b = await make('v4')
    await a.create()
    await b.create()
    assert.equal(a.data.hostonlyIf, b.data.hostonlyIf)
    assert.notEqual(a.data.address, b.data.address)
    assert.equal(calls().filter(c => c[0] === 'hostonlyif' && c[1] === 'create').length, 1)
    for (const m of [a, b]) assert.deepEqual(await driver.remove(m.handle()), [])
  })

  test('image formats: vmdk/vdi/vhd cloned, raw converted, qcow2 by content', async () => {
    const dir = tmpDir('vbox-img')
    const file = (name: string, head: Buffer, size = 4096) => {
      const b = Buffer.alloc(size)
      head.copy(b)
      writeFileSync(path.join(dir, name), b)
      return path.join(dir, name)
    }
    assert.equal(await detectFormat(file('a.img', Buffer.from([0x51, 0x46, 0x49, 0xfb]))), 'qcow2')
    assert.equal(await detectFormat(file('b.vmdk', Buffer.from('KDMV'))), 'vmdk')
    assert.equal(await detectFormat(file('c.vdi', Buffer.from('<<< Oracle VM VirtualBox Disk Image >>>'))), 'vdi')
    const vhd = Buffer.alloc(4096)
    vhd.write('conectix', 4096 - 512)
    writeFileSync(path.join(dir, 'd.vhd'), vhd)
    assert.equal(await detectFormat(path.join(dir, 'd.vhd')), 'vhd')
    assert.equal(await detectFormat(file('e.raw', Buffer.from([0xeb, 0x63, 0x90]))), 'raw')
    const m = await make('v5', {'virtualbox-image': path.join(dir, 'b.vmdk')})
    await m.create()
    assert.ok(calls().some(c => c[0] === 'clonemedium' && c[1] === 'disk' && c[2] === path.join(dir, 'b.vmdk') && c.includes('--format')))
    assert.deepEqual(await driver.remove(m.handle()), [])
    assert.deepEqual(violations(), [])
  })

  test('preCreate refuses bad input before anything exists', async () => {
    const ctx = {machineName: 'x', machineId: 'ab', warn: () => {}}
    await assert.rejects(driver.preCreate({}, ctx), /--virtualbox-image is required/)
    await assert.rejects(driver.preCreate({'virtualbox-image': image, 'virtualbox-hostonly-cidr': '192.168.56.0/24'}, ctx), /the host's address in the network/)
    await assert.rejects(driver.preCreate({'virtualbox-image': image, 'virtualbox-memory': 8}, ctx), /--virtualbox-memory/)
    await assert.rejects(driver.preCreate({'virtualbox-image': '/nonexistent.vmdk'}, ctx), /does not exist/)
  })

  test('the stand-in rejects what VBoxManage\'s documented syntax does not allow', () => {
    // The checker must be able to fail, or the "no violations" above would prove nothing.
    assert.equal(checkSyntax(['modifyvm', 'vm', '--natpf1', 'ssh,tcp,127.0.0.1,2222,,22']), undefined)
    assert.match(checkSyntax(['modifyvm', 'vm', '--natpf1', 'ssh,tcp,127.0.0.1,22'])!, /Invalid value/)
    assert.match(checkSyntax(['modifyvm', 'vm', '--nic1', 'natt'])!, /Invalid value 'natt'/)
    assert.match(checkSyntax(['startvm', 'vm', '--type', 'invisible'])!, /Invalid value/)
    assert.match(checkSyntax(['controlvm', 'vm', 'shutdown'])!, /Invalid parameter 'shutdown'/)
    assert.match(checkSyntax(['storageattach', 'vm', '--port', '0'])!, /missing required option --storagectl/)
    assert.match(checkSyntax(['createvm', '--name'])!, /Missing value/)
    assert.match(checkSyntax(['unregistervm', 'vm', '--purge'])!, /Unknown option: --purge/)
    assert.match(checkSyntax(['clonehdd', 'a', 'b'])!, /Invalid command/)
    const r = spawnSync(process.execPath, [FAKE, 'controlvm', 'vm', 'shutdown'], {env: {...process.env, FAKE_VBOX_DIR: tmpDir('vbox-syn')}})
    assert.equal(r.status, 2)
    assert.match(r.stderr.toString(), /Syntax error/)
  })

  test('parsers: showvminfo --machinereadable and list hostonlyifs', () => {
    const kv = parseMachineReadable('name="berth-a"\nUUID="1234"\nVMState="running"\n"SATA-0-0"="/x/disk.vdi"\nmemory=1024\n')
    assert.equal(kv.VMState, 'running')
    assert.equal(kv['SATA-0-0'], '/x/disk.vdi')
    assert.equal(kv.memory, '1024')
    const blocks = parseBlocks('Name:            vboxnet0\nIPAddress:       192.168.56.1\nNetworkMask:     255.255.255.0\n\nName:            vboxnet1\nIPAddress:       192.168.99.1\nNetworkMask:     255.255.255.0\n')
    assert.deepEqual(blocks.map(b => [b.Name, b.IPAddress]), [['vboxnet0', '192.168.56.1'], ['vboxnet1', '192.168.99.1']])
    assert.ok(execFileSync(path.join(bin, 'VBoxManage'), ['--version']).toString().startsWith('7.'))
  })
})
