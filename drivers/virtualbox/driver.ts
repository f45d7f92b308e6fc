/**
 * The seeds' local driver, by VBoxManage as docker-machine's was, but booting a cloud image with
 * the same cloud-init NoCloud seed as the qemu driver: the image is cloned per machine, NIC 1 is
 * NAT with SSH forwarded from a loopback port, NIC 2 is on a host-only network where the engine
 * (2376) and the swarm are reached at the VM's static address.
 *
 * Checked here only against a stand-in VBoxManage that validates each call against the documented
 * syntax (test/fixtures/virtualbox): not verified against a real VirtualBox.
 */
import {execFile} from 'node:child_process'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import type {AdoptedHost, DockerMachineHost, Driver, MachineState} from '../../src/sdk/index.js'
import {errorMessage, pollUntil, UserError} from '../../src/sdk/index.js'
import {guestPanic, imageOption, sizeOptions, watchBoot} from '../../src/sdk/localvm/index.js'
import {acquireLock, mkdirPrivate} from '../../src/sdk/index.js'
import {newInstanceId, seedIso, vmMacs} from '../../src/sdk/localvm/index.js'
import {ipString, lease, maskOf, parseSubnet, release} from '../../src/sdk/index.js'
import {notFound, parseBlocks, parseMachineReadable, vboxmanage} from './vbox.js'

const run = promisify(execFile)
const USER = 'berth'
const BOOT_TIMEOUT_MS = 600_000
const STOP_TIMEOUT_MS = 120_000

export type ImageFormat = 'qcow2' | 'vdi' | 'vmdk' | 'vhd' | 'raw'

export interface VBoxData {
  image: string
  imageFormat: ImageFormat
  memoryMb: number
  cpus: number
  diskMb: number
  ostype: string
  hostIp: string
  subnet: string
  user: string
  vmName: string
  uuid?: string
  hostonlyIf?: string
  address?: string
  sshPort?: number
  natMac?: string
  lanMac?: string
  instanceId?: string
  disk?: string
  seed?: string
}

const files = (dir: string) => ({disk: path.join(dir, 'disk.vdi'), seed: path.join(dir, 'seed.iso'), console: path.join(dir, 'console.log')})
/** VirtualBox wants MACs as 12 hex digits. */
const vboxMac = (mac: string) => mac.replace(/:/g, '').toUpperCase()

export async function detectFormat(file: string): Promise<ImageFormat> {
  const fh = await fs.open(file, 'r')
  try {
    const {size} = await fh.stat()
    const head = Buffer.alloc(512)
    const tail = Buffer.alloc(512)
    await fh.read(head, 0, 512, 0)
    if (size >= 512) await fh.read(tail, 0, 512, size - 512)
    if (head.subarray(0, 4).equals(Buffer.from([0x51, 0x46, 0x49, 0xfb]))) return 'qcow2'
    if (head.toString('latin1', 0, 64).includes('VirtualBox Disk Image') || head.readUInt32LE(64) === 0xbeda107f) return 'vdi'
    if (head.toString('latin1', 0, 4) === 'KDMV' || head.toString('latin1', 0, 21) === '# Disk DescriptorFile') return 'vmdk'
    if (head.toString('latin1', 0, 8) === 'conectix' || tail.toString('latin1', 0, 8) === 'conectix') return 'vhd'
    return 'raw'
  } finally {
    await fh.close()
  }
}

/** VMState of `showvminfo --machinereadable`, or undefined when VirtualBox does not know the VM. */
async function vmState(uuid: string): Promise<string | undefined> {
  try {
    return parseMachineReadable(await vboxmanage(['showvminfo', uuid, '--machinereadable'])).VMState
  } catch (err) {
    if (notFound(err)) return undefined
    throw err
  }
}

const RUNNING = new Set(['running', 'paused', 'stuck', 'gurumeditation', 'starting', 'stopping', 'restoring', 'saving', 'livesnapshotting', 'teleporting', 'onlinesnapshotting'])

function waitState(uuid: string, done: (s: string | undefined) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  return pollUntil(async () => done(await vmState(uuid)), {timeoutMs, intervalMs: 500, signal})
}

/** The host-only interface with the host address (made once, shared by the store's VMs, as docker-machine did). */
async function hostonlyInterface(driverDir: string, hostIp: string, mask: string): Promise<string> {
  await mkdirPrivate(driverDir)
  const lock = await acquireLock(path.join(driverDir, 'hostonly.lock'), {what: 'VirtualBox host-only network', timeoutMs: 120_000})
  try {
    const existing = parseBlocks(await vboxmanage(['list', 'hostonlyifs'])).find(b => b.IPAddress === hostIp && b.NetworkMask === mask)
    if (existing?.Name) return existing.Name
    const out = await vboxmanage(['hostonlyif', 'create'])
    const name = /Interface '([^']+)' was successfully created/.exec(out)?.[1]
    if (!name) throw new Error(`VBoxManage hostonlyif create: unexpected answer "${out.trim()}"`)
    await vboxmanage(['hostonlyif', 'ipconfig', name, '--ip', hostIp, '--netmask', mask])
    return name
  } finally {
    await lock.release()
  }
}

async function makeDisk(v: VBoxData, dest: string): Promise<void> {
  switch (v.imageFormat) {
    case 'qcow2':
      // VirtualBox cannot read qcow2: convert with qemu-img when it is there.
      await run('qemu-img', ['convert', '-O', 'vdi', v.image, dest]).catch(err => {
        throw new UserError((err as NodeJS.ErrnoException).code === 'ENOENT' ? `${v.image} is qcow2, which VirtualBox cannot read: install qemu-utils, or use the image's vmdk/raw form` : `qemu-img convert failed: ${errorMessage((err as {stderr?: string}).stderr || err)}`)
      })
      break
    case 'raw':
      await vboxmanage(['convertfromraw', v.image, dest, '--format', 'VDI'], {timeoutMs: 600_000})
      break
    default:
      await vboxmanage(['clonemedium', 'disk', v.image, dest, '--format', 'VDI'], {timeoutMs: 600_000})
  }
  const info = parseBlocks(await vboxmanage(['showmediuminfo', 'disk', dest]))[0] ?? {}
  const capacityMb = Number(/^(\d+)\s*MBytes/.exec(info.Capacity ?? '')?.[1] ?? 0)
  if (v.diskMb > capacityMb) await vboxmanage(['modifymedium', 'disk', dest, '--resize', String(v.diskMb)])
}

async function boot(name: string, dir: string, v: VBoxData, signal?: AbortSignal): Promise<void> {
  await vboxmanage(['startvm', v.uuid!, '--type', 'headless'])
  await watchBoot({
    name, sshPort: v.sshPort!, timeoutMs: BOOT_TIMEOUT_MS, signal, bootLog: files(dir).console,
    check: async n => {
      // VBoxManage costs a process: ask it every other second.
      if (n % 4) return
      const st = await vmState(v.uuid!)
      if (st === 'gurumeditation' || st === 'aborted') throw new UserError(`VirtualBox stopped "${name}" while booting (state ${st}): see its log with "VBoxManage showvminfo ${v.uuid} --log 0"`)
      if (st === 'poweroff') throw new UserError(`"${name}" powered off while booting: its boot log is ${files(dir).console}`)
      const panic = guestPanic(await fs.readFile(files(dir).console, 'utf8').catch(() => ''))
      if (panic) {
        await vboxmanage(['controlvm', v.uuid!, 'poweroff']).catch(() => {})
        throw new UserError(`"${name}" was stopped while booting: ${panic}`)
      }
    },
  })
}

const driver: Driver<VBoxData> = {
  name: 'virtualbox',
  sshTimeout: 300,

  async preCreate(options, ctx) {
    const abs = await imageOption(options, 'virtualbox-image', 'a cloud image with cloud-init (e.g. Debian\'s genericcloud .raw or Ubuntu\'s .vmdk)')
    const {memoryMb, cpus} = sizeOptions(options, {memory: 'virtualbox-memory', cpus: 'virtualbox-cpu-count'}, {memoryMb: 1024, cpus: 1})
    const diskMb = Number(options['virtualbox-disk-size'] ?? 20000)
    if (!Number.isInteger(diskMb) || diskMb < 1024) throw new UserError(`bad --virtualbox-disk-size ${options['virtualbox-disk-size']}: give MB, at least 1024`)
    const cidr = String(options['virtualbox-hostonly-cidr'] ?? '192.168.56.1/24')
    const sn = parseSubnet(cidr, 'virtualbox-hostonly-cidr')
    const hostIp = cidr.split('/')[0]
    if (hostIp === ipString(sn.base)) throw new UserError(`--virtualbox-hostonly-cidr ${cidr}: give the host's address in the network (e.g. 192.168.56.1/24), not the network's`)
    const version = (await vboxmanage(['--version'])).trim()
    if (/^[0-5]\./.test(version)) ctx.warn(`VirtualBox ${version} is old: berth is written for 6.1 and later`)
    const data: VBoxData = {
      image: abs, imageFormat: await detectFormat(abs), memoryMb, cpus, diskMb, ostype: String(options['virtualbox-ostype'] ?? 'Debian_64'),
      hostIp, subnet: `${ipString(sn.base)}/${sn.prefix}`, user: USER, vmName: `berth-${ctx.machineName}-${ctx.machineId.slice(0, 8)}`,
    }
    return {data}
  },

  async create(ctx, data) {
    const v = {...data}
    const save = () => ctx.save({...v})
    const f = files(ctx.machineDir)
    const l = await lease(ctx.driverDir, ctx.machineId, ctx.machineDir, v.subnet, {flag: 'virtualbox-hostonly-cidr'})
    Object.assign(v, {
      address: l.address, sshPort: l.sshPort, instanceId: newInstanceId(ctx.machineId), disk: f.disk, seed: f.seed,
      ...vmMacs(ctx.machineId, l.address),
    })
    await save()
    const sn = parseSubnet(v.subnet, 'virtualbox-hostonly-cidr')
    const mask = ipString(maskOf(sn.prefix))
    v.hostonlyIf = await hostonlyInterface(ctx.driverDir, v.hostIp, mask)
    await save()
    ctx.log('creating VM')
    const created = await vboxmanage(['createvm', '--name', v.vmName, '--ostype', v.ostype, '--basefolder', ctx.machineDir, '--register'])
    v.uuid = /^UUID:\s*(\S+)/m.exec(created)?.[1]
    if (!v.uuid) throw new Error(`VBoxManage createvm: no UUID in its answer "${created.trim()}"`)
    await save()
    ctx.log(`cloning ${path.basename(v.image)}`)
    await makeDisk(v, f.disk)
    await fs.writeFile(f.seed, seedIso({
      hostname: ctx.machineName, user: v.user, sshPublicKey: ctx.sshPublicKey, instanceId: v.instanceId!,
      nics: [{mac: v.natMac!}, {mac: v.lanMac!, address: v.address}],
    }), {mode: 0o600})
    await vboxmanage(['modifyvm', v.uuid,
      '--memory', String(v.memoryMb), '--cpus', String(v.cpus), '--acpi', 'on', '--ioapic', 'on', '--rtcuseutc', 'on',
      '--boot1', 'disk', '--boot2', 'none', '--boot3', 'none', '--boot4', 'none',
      '--nic1', 'nat', '--nictype1', 'virtio', '--macaddress1', vboxMac(v.natMac!), '--natpf1', `ssh,tcp,127.0.0.1,${v.sshPort},,22`,
      '--nic2', 'hostonly', '--nictype2', 'virtio', '--hostonlyadapter2', v.hostonlyIf, '--macaddress2', vboxMac(v.lanMac!),
      // Cloud images log to (and some wait for) the first serial port: give them one, into a file.
      '--uart1', '0x3F8', '4', '--uartmode1', 'file', f.console,
    ])
    await vboxmanage(['storagectl', v.uuid, '--name', 'SATA', '--add', 'sata', '--controller', 'IntelAhci', '--portcount', '2', '--hostiocache', 'on'])
    await vboxmanage(['storageattach', v.uuid, '--storagectl', 'SATA', '--port', '0', '--device', '0', '--type', 'hdd', '--medium', f.disk])
    await vboxmanage(['storageattach', v.uuid, '--storagectl', 'SATA', '--port', '1', '--device', '0', '--type', 'dvddrive', '--medium', f.seed])
    ctx.log('booting')
    await boot(ctx.machineName, ctx.machineDir, v, ctx.signal)
    return {...v}
  },

  async remove(m) {
    const v = m.data
    const left: string[] = []
    if (v.uuid) {
      try {
        const st = await vmState(v.uuid)
        if (st && RUNNING.has(st)) {
          await vboxmanage(['controlvm', v.uuid, 'poweroff']).catch(() => {})
          await waitState(v.uuid, s => !s || !RUNNING.has(s), 30_000)
        }
        if (st) await vboxmanage(['unregistervm', v.uuid, '--delete'])
      } catch (err) {
        if (!notFound(err)) left.push(`VirtualBox VM ${v.vmName}: ${errorMessage(err)}`)
      }
    }
    const f = files(m.machineDir)
    for (const p of [f.disk, f.seed, f.console, path.join(m.machineDir, v.vmName)]) {
      await fs.rm(p, {recursive: true, force: true}).catch(err => left.push(`${p}: ${errorMessage(err)}`))
    }
    if (v.address) await release(m.driverDir, m.machineId).catch(err => left.push(`address lease: ${errorMessage(err)}`))
    return left
  },

  async start(m) {
    const v = m.data
    const st = await vmState(v.uuid!)
    if (st === undefined) throw new UserError(`VirtualBox has no VM ${v.vmName} (${v.uuid}): remove the machine`)
    if (RUNNING.has(st)) return
    await boot(m.machineName, m.machineDir, v, m.signal)
  },

  async stop(m) {
    const v = m.data
    const st = await vmState(v.uuid!)
    if (!st || !RUNNING.has(st)) return
    await vboxmanage(['controlvm', v.uuid!, 'acpipowerbutton'])
    if (await waitState(v.uuid!, s => !s || !RUNNING.has(s), STOP_TIMEOUT_MS, m.signal)) return
    m.log(`did not power off within ${STOP_TIMEOUT_MS / 1000} s: powering it off`)
    await vboxmanage(['controlvm', v.uuid!, 'poweroff'])
  },

  async restart(m) {
    await this.stop(m)
    await this.start(m)
  },

  async kill(m) {
    const v = m.data
    const st = await vmState(v.uuid!)
    if (st && RUNNING.has(st)) await vboxmanage(['controlvm', v.uuid!, 'poweroff'])
  },

  async state(m): Promise<MachineState> {
    const v = m.data
    if (!v.uuid) return 'NotFound'
    const st = await vmState(v.uuid)
    switch (st) {
      case undefined: return 'NotFound'
      case 'running': return 'Running'
      case 'paused': return 'Paused'
      case 'saved': return 'Saved'
      case 'poweroff': case 'aborted': return 'Stopped'
      case 'stopping': case 'saving': return 'Stopping'
      case 'starting': case 'restoring': return 'Starting'
      case 'gurumeditation': case 'stuck': return 'Error'
      default: return 'Unknown'
    }
  },

  async ip(m) {
    const a = m.data.address
    if (!a) throw new UserError(`"${m.machineName}" has no host-only address yet`)
    return a.split('/')[0]
  },

  async sshEndpoint(m) {
    return {host: '127.0.0.1', port: m.data.sshPort ?? 22, user: m.data.user}
  },

  async addresses(m) {
    const a = m.data.address
    return a ? [a.split('/')[0]] : []
  },

  async adoptDockerMachine(h) {
    return adoptVirtualBox(h)
  },
}

const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined)
const num = (v: unknown, dflt: number) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : dflt)

/**
 * A docker-machine VirtualBox VM (boot2docker): VirtualBox knows it by its machine name, SSH
 * reaches it through the NAT port forward docker-machine set up, the engine at its host-only IP.
 */
function adoptVirtualBox(h: DockerMachineHost): AdoptedHost<VBoxData> {
  const d = h.driver
  const ip = text(d.IPAddress)
  if (!ip) throw new UserError(`docker-machine host "${h.machineName}" has no IPAddress in its config.json: start it once with docker-machine, or import it later`)
  const cidr = text(d.HostOnlyCIDR) ?? '192.168.99.1/24'
  const [hostIp, prefix] = cidr.split('/')
  const unmapped = [`boot2docker image and disk (${text(d.Boot2DockerURL) || 'boot2docker.iso'}, disk.vmdk) stay in docker-machine's folder, where the VM uses them`]
  if (d.ShareFolder || d.NoShare === false) unmapped.push('the shared folder (/Users or C:\\Users) stays as VirtualBox has it; berth does not manage it')
  return {
    data: {
      image: text(d.Boot2DockerURL) ?? '', imageFormat: 'raw', memoryMb: num(d.Memory, 1024), cpus: num(d.CPU, 1), diskMb: num(d.DiskSize, 20000),
      ostype: 'Linux26_64', hostIp, subnet: `${hostIp}/${prefix ?? '24'}`, user: text(d.SSHUser) ?? 'docker',
      vmName: h.machineName, uuid: h.machineName, address: ip, sshPort: num(d.SSHPort, 22),
    },
    unmapped,
  }
}

export default driver
