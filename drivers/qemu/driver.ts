import {execFile} from 'node:child_process'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import type {Driver, DriverPlace, MachineState} from '../../src/sdk/index.js'
import {errorMessage, UserError, which} from '../../src/sdk/index.js'
import {imageOption, sizeOptions} from '../../src/sdk/localvm/index.js'
import {chooseAccel, cpuHasVirt, probeKvm, type Accel} from './accel.js'
import {newInstanceId, seedIso, vmMacs} from '../../src/sdk/localvm/index.js'
import {sidecars} from './image.js'
import {lease, parseSubnet, reassignPorts, release} from '../../src/sdk/index.js'
import {segmentFor} from './net.js'
import {qmp} from './qmp.js'
import {alive, bootFailure, defaultCpuModel, type GuestFwd, killProc, launch, PortTaken, powerOff, qmpSocketPath, type VmSpec, waitBooted} from './vm.js'

const run = promisify(execFile)

/** What berth keeps about a qemu machine (shown by `berth inspect`). */
export interface QemuData {
  image: string
  imageFormat: 'raw' | 'qcow2'
  /** Identity of the base when the overlay was made: a base rebuilt in place would corrupt the overlay. */
  imageId: {ino: number; size: number; mtimeMs: number}
  kernel?: string
  initrd?: string
  cmdline?: string
  memoryMb: number
  cpus: number
  diskBytes: number
  accel: Accel
  accelReason: string
  /** -cpu model, when --qemu-cpu-model chose one (else the accelerator's default). */
  cpuModel?: string
  subnet: string
  restrict: boolean
  /** guestfwd rules, guest address -> this host's (an apt proxy reached under restrict=on). */
  guestfwd?: GuestFwd[]
  binary: string
  user: string
  /** --qemu-user-data-file, read again when the seed is written (its contents may be secret: not kept here). */
  userDataFile?: string
  address?: string
  segment?: {group: string; port: number}
  sshPort?: number
  enginePort?: number
  natMac?: string
  lanMac?: string
  instanceId?: string
  overlay?: string
  seed?: string
  pid?: number
  pidStart?: number
  logOffset?: number
}

const USER = 'berth'
const BOOT_TIMEOUT_MS = 600_000
const STOP_TIMEOUT_MS = 120_000

const files = (dir: string) => ({
  overlay: path.join(dir, 'disk.qcow2'), seed: path.join(dir, 'seed.iso'),
  console: path.join(dir, 'console.log'), log: path.join(dir, 'qemu.log'),
})

export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT])?i?B?$/i.exec(s.trim())
  if (!m) throw new UserError(`bad --qemu-disk-size "${s}": use a size like 20G or 8192M`)
  const mult = {K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40}[(m[2] ?? '').toUpperCase() as 'K'] ?? 1
  return Math.floor(Number(m[1]) * mult)
}

async function imageInfo(image: string): Promise<{format: string; virtualSize: number}> {
  try {
    // -U: the base is in use (read-only) by running VMs; reading its header is safe.
    const {stdout} = await run('qemu-img', ['info', '-U', '--output=json', image])
    const info = JSON.parse(stdout) as {format: string; 'virtual-size': number}
    return {format: info.format, virtualSize: info['virtual-size']}
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError('qemu-img is not installed: apt-get install qemu-utils')
    throw new UserError(`cannot read --qemu-image ${image}: ${errorMessage((err as {stderr?: string}).stderr || err).replace(/^qemu-img: /, '')}`)
  }
}

const ENDPOINT = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/

/**
 * QEMU's guestfwd to a TCP chardev connects once, at launch, and carries one guest connection
 * ever; with cmd: it runs a program per connection, its stdio the connection: a TCP relay.
 */
async function connector(): Promise<(hostPort: string) => string> {
  const split = (hp: string) => hp.split(':').join(' ')
  if (await which('socat')) return hp => `socat - TCP:${hp}`
  if (await which('nc')) return hp => `nc ${split(hp)}`
  if (await which('busybox')) return hp => `busybox nc ${split(hp)}`
  throw new UserError('--qemu-guestfwd needs a TCP relay for QEMU to run per connection: apt-get install socat (or netcat-openbsd, busybox)')
}

/** --qemu-guestfwd GUEST_IP:PORT=HOST_IP:PORT, repeatable. */
export function guestfwdOption(v: unknown): {guest: string; host: string}[] {
  const list = (Array.isArray(v) ? v : v === undefined || v === '' ? [] : [v]).map(String)
  return list.map(rule => {
    const [guest, host, extra] = rule.split('=')
    if (extra !== undefined || !ENDPOINT.test(guest ?? '') || !ENDPOINT.test(host ?? '')) throw new UserError(`bad --qemu-guestfwd "${rule}": use GUEST_IP:PORT=HOST_IP:PORT, e.g. 10.0.2.100:3142=127.0.0.1:3142`)
    return {guest, host}
  })
}

async function baseIdentity(image: string) {
  const st = await fs.stat(image)
  return {ino: st.ino, size: st.size, mtimeMs: Math.round(st.mtimeMs)}
}

async function checkBase(q: QemuData): Promise<void> {
  const now = await baseIdentity(q.image).catch(() => undefined)
  if (!now) throw new UserError(`base image ${q.image} is gone: this machine's disk is an overlay on it; restore the file or remove the machine`)
  if (now.ino !== q.imageId.ino || now.size !== q.imageId.size || now.mtimeMs !== q.imageId.mtimeMs) {
    throw new UserError(`base image ${q.image} changed since this machine was made (rebuilt in place?): its overlay no longer matches it; remove and re-create the machine, and give each new image build a new file name`)
  }
}

function spec(m: {machineName: string; machineId: string; machineDir: string}, q: QemuData): VmSpec {
  const f = files(m.machineDir)
  return {
    name: m.machineName, binary: q.binary, accel: q.accel, cpuModel: q.cpuModel, memoryMb: q.memoryMb, cpus: q.cpus,
    overlay: q.overlay!, seed: q.seed!, kernel: q.kernel, initrd: q.initrd, cmdline: q.cmdline, restrict: q.restrict, guestfwd: q.guestfwd ?? [],
    sshPort: q.sshPort!, enginePort: q.enginePort!, natMac: q.natMac!, lanMac: q.lanMac!, segment: q.segment!,
    console: f.console, qmpSocket: qmpSocketPath(m.machineDir, m.machineId),
  }
}

/** A failure QEMU logged since this VM's launch (KVM internal error), in one line. */
async function loggedFailure(dir: string, q: QemuData): Promise<string | undefined> {
  const text = await fs.readFile(files(dir).log, 'utf8').then(t => t.slice(q.logOffset ?? 0), () => '')
  return bootFailure(text, '')
}

/** Launch (new loopback ports if the old ones were taken meanwhile), record the PID, wait for sshd. */
async function boot(m: DriverPlace & {machineName: string; machineId: string; signal?: AbortSignal; log(s: string): void; debug(s: string): void}, q: QemuData, save: (q: QemuData) => Promise<void>): Promise<void> {
  await checkBase(q)
  const f = files(m.machineDir)
  let started
  for (let attempt = 0; ; attempt++) {
    try {
      started = await launch(spec(m, q), m.machineDir, f.log)
      break
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt >= 3) throw err
      const l = await reassignPorts(m.driverDir, m.machineId)
      m.debug(`loopback port taken (${err.message}): now SSH ${l.sshPort}, engine ${l.enginePort}`)
      Object.assign(q, {sshPort: l.sshPort, enginePort: l.enginePort})
      await save(q)
    }
  }
  Object.assign(q, started)
  await save(q)
  m.log(`booting (${q.accel})`)
  await waitBooted({
    name: m.machineName, proc: q, qemuLog: f.log, consoleLog: f.console, logOffset: started.logOffset, consoleOffset: 0,
    qmpSocket: qmpSocketPath(m.machineDir, m.machineId), sshPort: q.sshPort!, timeoutMs: BOOT_TIMEOUT_MS, signal: m.signal, debug: m.debug,
    // KVM forced on a CPU without vmx/svm may spin silently instead of failing: a guest that has
    // printed nothing after 30 s never ran. (Only then: a healthy image may keep its console quiet.)
    ...(q.accel === 'kvm' && !cpuHasVirt((await probeKvm()).cpuinfo) ? {silentLimitMs: KVM_SILENT_LIMIT_MS} : {}),
  })
}

const KVM_SILENT_LIMIT_MS = 30_000

/** The user's cloud-init user data: a file cloud-init takes as a part of its own (a cloud-config or a script). */
async function readUserData(file: string): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read --qemu-user-data-file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`)
  })
  if (!/^(#cloud-config|#!)/.test(text)) throw new UserError(`--qemu-user-data-file ${file} is neither a #cloud-config nor a #! script (its first line says which)`)
  if (text.length > 64 * 1024) throw new UserError(`--qemu-user-data-file ${file} is over 64 KiB`)
  return text
}

const driver: Driver<QemuData> = {
  name: 'qemu',
  sshTimeout: 300,

  async preCreate(options, ctx) {
    const abs = await imageOption(options, 'qemu-image', 'a raw or qcow2 base image (make one with "berth qemu build-image FILE")')
    const info = await imageInfo(abs)
    if (info.format !== 'raw' && info.format !== 'qcow2') throw new UserError(`--qemu-image ${abs} is ${info.format}: use a raw or qcow2 image (qemu-img convert -O qcow2 ...)`)
    const {memoryMb, cpus} = sizeOptions(options, {memory: 'qemu-memory', cpus: 'qemu-cpus'}, {memoryMb: 2048, cpus: 2})
    let diskBytes = parseSize(String(options['qemu-disk-size'] ?? '20G'))
    if (diskBytes < info.virtualSize) {
      ctx.warn(`--qemu-disk-size is smaller than the image (${Math.ceil(info.virtualSize / 2 ** 30)} GiB): using the image's size`)
      diskBytes = info.virtualSize
    }
    const subnet = String(options['qemu-subnet'] ?? '192.168.76.0/24')
    parseSubnet(subnet, 'qemu-subnet')
    const binary = String(options['qemu-binary'] ?? 'qemu-system-x86_64')
    await run(binary, ['--version']).catch(err => {
      throw new UserError(`cannot run ${binary}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (apt-get install qemu-system-x86, or set --qemu-binary)' : errorMessage(err)}`)
    })
    const choice = chooseAccel(String(options['qemu-accel'] ?? 'auto'), await probeKvm())
    const model = String(options['qemu-cpu-model'] ?? 'auto')
    // QEMU's own check (-cpu help) costs a process; a bad model fails at launch with QEMU's message anyway.
    if (!/^[A-Za-z0-9][\w.+,=-]*$/.test(model)) throw new UserError(`bad --qemu-cpu-model "${model}": give a QEMU CPU model (qemu-system-x86_64 -cpu help) or auto`)
    if (choice.warning) ctx.warn(choice.warning)
    const side = sidecars(abs)
    const has = async (p: string) => fs.stat(p).then(s => s.isFile(), () => false)
    const direct = await has(side.kernel) && await has(side.initrd)
    const data: QemuData = {
      image: abs, imageFormat: info.format, imageId: await baseIdentity(abs),
      ...(direct ? {kernel: side.kernel, initrd: side.initrd, cmdline: (await has(side.cmdline)) ? (await fs.readFile(side.cmdline, 'utf8')).trim() : undefined} : {}),
      memoryMb, cpus, diskBytes, accel: choice.accel, accelReason: choice.reason, ...(model === 'auto' ? {} : {cpuModel: model}), subnet, restrict: Boolean(options['qemu-restrict']), binary, user: USER,
    }
    if (options['qemu-user-data-file']) {
      data.userDataFile = path.resolve(String(options['qemu-user-data-file']))
      await readUserData(data.userDataFile)
    }
    const fwd = guestfwdOption(options['qemu-guestfwd'])
    if (fwd.length) {
      const connect = await connector()
      data.guestfwd = fwd.map(f => ({...f, cmd: connect(f.host)}))
    }
    if (direct && !data.cmdline) data.cmdline = 'root=/dev/vda rw console=ttyS0,115200'
    return {data}
  },

  async create(ctx, data) {
    const q = {...data}
    const save = (x: QemuData) => ctx.save({...x})
    const f = files(ctx.machineDir)
    const l = await lease(ctx.driverDir, ctx.machineId, ctx.machineDir, q.subnet, {flag: 'qemu-subnet'})
    Object.assign(q, {
      address: l.address, sshPort: l.sshPort, enginePort: l.enginePort,
      // Named after the store (the driver's folder sits in it): every VM of the store shares it.
      segment: segmentFor(path.dirname(ctx.driverDir), q.subnet),
      ...vmMacs(ctx.machineId, l.address),
      instanceId: newInstanceId(ctx.machineId),
      overlay: f.overlay, seed: f.seed,
    })
    await save(q)
    ctx.log(`making disk (overlay on ${path.basename(q.image)})`)
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', q.imageFormat, '-b', q.image, f.overlay, String(q.diskBytes)]).catch(err => {
      throw new UserError(`qemu-img create failed: ${errorMessage((err as {stderr?: string}).stderr || err)}`)
    })
    await fs.writeFile(f.seed, seedIso({
      hostname: ctx.machineName, user: q.user, sshPublicKey: ctx.sshPublicKey, instanceId: q.instanceId!,
      nics: [{mac: q.natMac!}, {mac: q.lanMac!, address: q.address}],
      ...(q.userDataFile ? {userData: await readUserData(q.userDataFile)} : {}),
    }), {mode: 0o600})
    ctx.debug(`accelerator ${q.accel}: ${q.accelReason}; CPU model ${q.cpuModel ?? defaultCpuModel(q.accel)}`)
    await boot({...ctx, log: ctx.log, debug: ctx.debug}, q, save)
    return {...q}
  },

  async remove(m) {
    const q = m.data
    const left: string[] = []
    if (!(await killProc(q))) left.push(`QEMU process ${q.pid} is still running`)
    const f = files(m.machineDir)
    for (const p of [f.overlay, f.seed, f.console, f.log, qmpSocketPath(m.machineDir, m.machineId)]) {
      await fs.rm(p, {force: true}).catch(err => left.push(`${p}: ${errorMessage(err)}`))
    }
    if (q.address) await release(m.driverDir, m.machineId).catch(err => left.push(`address lease: ${errorMessage(err)}`))
    return left
  },

  async start(m) {
    const q = {...m.data}
    if (await alive(q)) return
    if (!(await fs.stat(q.overlay ?? '').then(() => true, () => false))) throw new UserError(`the disk of "${m.machineName}" (${q.overlay}) is gone: remove the machine`)
    await boot(m, q, x => m.save({...x}))
  },

  async stop(m) {
    const q = m.data
    const failure = await loggedFailure(m.machineDir, q)
    // A VM stopped by a KVM internal error never answers the power button: no point waiting for it.
    if (failure && await alive(q)) {
      m.log(`${failure}: killing it`)
      await killProc(q)
    }
    await powerOff(q, qmpSocketPath(m.machineDir, m.machineId), STOP_TIMEOUT_MS, m.log, m.signal)
    delete q.pid
    delete q.pidStart
    await m.save({...q})
  },

  async restart(m) {
    await this.stop(m)
    await this.start(m)
  },

  async kill(m) {
    const q = m.data
    if (!(await killProc(q))) throw new Error(`QEMU process ${q.pid} survived SIGKILL`)
    delete q.pid
    delete q.pidStart
    await m.save({...q})
  },

  async state(m): Promise<MachineState> {
    const q = m.data
    if (!q.overlay || !(await fs.stat(q.overlay).then(() => true, () => false))) return 'NotFound'
    if (!(await alive(q))) return 'Stopped'
    // Thrown, not returned: `berth ls` then shows the reason beside the Error state.
    const failure = await loggedFailure(m.machineDir, q)
    if (failure) throw new UserError(`QEMU stopped the VM: ${failure}; "berth stop" ends the process`)
    const st = await qmp<{status: string}>(qmpSocketPath(m.machineDir, m.machineId), 'query-status', undefined, 3000).catch(() => undefined)
    // The monitor serves one client at a time: a busy one means QEMU is alive and busy, not gone.
    if (!st) return 'Running'
    switch (st.status) {
      case 'running': return 'Running'
      case 'paused': case 'suspended': return 'Paused'
      case 'inmigrate': case 'prelaunch': return 'Starting'
      case 'shutdown': return 'Stopping'
      case 'save-vm': case 'postmigrate': case 'finish-migrate': return 'Saved'
      case 'internal-error': case 'guest-panicked': case 'io-error': return 'Error'
      default: return 'Unknown'
    }
  },

  async ip() {
    // The engine and SSH are forwarded to loopback; the segment address is for the VMs themselves.
    return '127.0.0.1'
  },

  enginePort(m) {
    return m.data.enginePort ?? 2376
  },

  async sshEndpoint(m) {
    return {host: '127.0.0.1', port: m.data.sshPort ?? 22, user: m.data.user}
  },

  async addresses(m) {
    const a = m.data.address
    return a ? [a.split('/')[0]] : []
  },

  async swarmAddress(m) {
    const a = m.data.address
    if (!a) throw new UserError(`"${m.machineName}" has no address on the VM segment`)
    return a.split('/')[0]
  },

  labels(m) {
    return {accel: m.data.accel}
  },
}

export default driver
