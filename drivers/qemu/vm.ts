/**
 * One QEMU process per machine: its command line, launch, boot watch, power-off and kill.
 * The process is identified by PID and start time (/proc/PID/stat), never by name, so a
 * recycled PID is never mistaken for the VM.
 */
import {spawn} from 'node:child_process'
import {closeSync, openSync, promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {poll, pollUntil, UserError} from '../../src/sdk/index.js'
import {guestPanic, watchBoot} from '../../src/sdk/localvm/index.js'
import type {Accel} from './accel.js'
import {qmp} from './qmp.js'

/** A guest address forwarded to one on this host, through `cmd` (a relay QEMU runs per connection). */
export interface GuestFwd {
  guest: string
  host: string
  cmd?: string
}

export interface VmSpec {
  name: string
  binary: string
  accel: Accel
  /** -cpu model; absent: the accelerator's default (see defaultCpuModel). */
  cpuModel?: string
  memoryMb: number
  cpus: number
  overlay: string
  seed: string
  kernel?: string
  initrd?: string
  cmdline?: string
  restrict: boolean
  guestfwd?: GuestFwd[]
  sshPort: number
  enginePort: number
  natMac: string
  lanMac: string
  segment: {group: string; port: number}
  console: string
  qmpSocket: string
}

/** QEMU's option lists split on commas; a comma inside a value is written twice. */
const opt = (p: string) => p.replace(/,/g, ',,')

/**
 * KVM runs the host's CPU. TCG emulates whatever it is asked to, and the richer the model the
 * slower the guest: with `max`, glibc and Python pick AVX2 paths that TCG emulates slowly. Nehalem
 * (x86-64-v2, what current distributions require) booted our image to SSH in 43-50 s against
 * 60-61 s with `max` (1 vCPU, 2-core host).
 */
export function defaultCpuModel(accel: Accel): string {
  return accel === 'kvm' ? 'host' : 'Nehalem'
}

export function qemuArgs(s: VmSpec): string[] {
  const hostfwd = [`hostfwd=tcp:127.0.0.1:${s.sshPort}-:22`, `hostfwd=tcp:127.0.0.1:${s.enginePort}-:2376`]
  const args = [
    '-name', `berth-${s.name}`,
    '-machine', 'q35',
    '-accel', s.accel,
    '-cpu', s.cpuModel ?? defaultCpuModel(s.accel),
    '-smp', String(s.cpus),
    '-m', String(s.memoryMb),
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-drive', `if=virtio,file=${opt(s.overlay)},format=qcow2,discard=unmap`,
    '-drive', `if=virtio,file=${opt(s.seed)},format=raw,readonly=on`,
    // guestfwd reaches this host even with restrict=on: the one way out a restricted guest has (an apt proxy).
    '-netdev', ['user', 'id=nat', ...(s.restrict ? ['restrict=on'] : []), ...hostfwd, ...(s.guestfwd ?? []).map(f => `guestfwd=tcp:${f.guest}-${f.cmd ? `cmd:${opt(f.cmd)}` : `tcp:${f.host}`}`)].join(','),
    '-device', `virtio-net-pci,netdev=nat,mac=${s.natMac}`,
    '-netdev', `socket,id=lan,mcast=${s.segment.group}:${s.segment.port},localaddr=127.0.0.1`,
    '-device', `virtio-net-pci,netdev=lan,mac=${s.lanMac}`,
    '-device', 'virtio-rng-pci',
    '-serial', `file:${s.console}`,
    '-qmp', `unix:${opt(s.qmpSocket)},server=on,wait=off`,
  ]
  if (s.kernel) args.push('-kernel', s.kernel, '-initrd', s.initrd ?? '', '-append', s.cmdline ?? '')
  return args
}

/** Start time of a live process in clock ticks since boot (field 22 of /proc/PID/stat); undefined when gone or a zombie. */
export async function procStart(pid: number): Promise<number | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8')
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined
    return Number(rest[19])
  } catch {
    return undefined
  }
}

export interface Proc {
  pid?: number
  pidStart?: number
}

export async function alive(p: Proc): Promise<boolean> {
  if (!p.pid) return false
  const start = await procStart(p.pid)
  return start !== undefined && start === p.pidStart
}

/** QMP socket path: unix socket paths are limited to ~107 bytes, so deep stores use the temp folder. */
export function qmpSocketPath(machineDir: string, machineId: string): string {
  const p = path.join(machineDir, 'qmp.sock')
  return Buffer.byteLength(p) < 100 ? p : path.join(os.tmpdir(), `berth-qmp-${machineId}.sock`)
}

export class PortTaken extends Error {}

/**
 * Spawn QEMU detached (it outlives berth) and wait until its monitor answers, which means it
 * got past device and network setup. Its stderr goes to `log`.
 */
export async function launch(spec: VmSpec, cwd: string, log: string): Promise<{pid: number; pidStart: number; logOffset: number}> {
  await fs.rm(spec.qmpSocket, {force: true})
  const logOffset = await fs.stat(log).then(s => s.size, () => 0)
  const fd = openSync(log, 'a', 0o600)
  let child
  try {
    child = spawn(spec.binary, qemuArgs(spec), {cwd, detached: true, stdio: ['ignore', fd, fd]})
  } finally {
    closeSync(fd)
  }
  const spawnError = new Promise<Error>(resolve => child.once('error', resolve))
  child.unref()
  const pid = child.pid
  if (!pid) throw new UserError(`cannot run ${spec.binary}: ${(await spawnError).message} (install qemu-system-x86 or set --qemu-binary)`)
  // No signal: until the caller has recorded the PID, an interrupted wait would leave QEMU running unowned.
  return poll(async () => {
    const start = await procStart(pid)
    if (start === undefined) {
      const why = await logTail(log, logOffset, 2)
      if (/host forwarding rule|Address already in use/i.test(why)) throw new PortTaken(why)
      const hint = spec.accel === 'kvm' ? '; KVM cannot run this guest here: use --qemu-accel tcg' : ''
      throw new UserError(`QEMU exited at once for "${spec.name}": ${why || 'no message'}${hint}`)
    }
    // A monitor that does not answer yet is the only "not yet".
    return qmp(spec.qmpSocket, 'query-status', undefined, 2000).then(() => ({pid, pidStart: start, logOffset}), () => undefined)
  }, {
    timeoutMs: 30_000, intervalMs: 100, fatal: () => true,
    timeoutError: async () => {
      process.kill(pid, 'SIGKILL')
      return new UserError(`QEMU for "${spec.name}" did not open its monitor within 30 s: ${await logTail(log, logOffset) || 'no message'}`)
    },
  })
}

export async function logTail(file: string, offset = 0, lines = 1): Promise<string> {
  const text = await readFrom(file, offset)
  return text.trim().split('\n').filter(Boolean).slice(-lines).map(l => l.replace(/^qemu-system-\w+: /, '').trim()).join(' | ')
}

async function readFrom(file: string, offset: number): Promise<string> {
  try {
    const fh = await fs.open(file, 'r')
    try {
      const {size} = await fh.stat()
      // The start of a boot's output is what tells (panics, KVM errors): cap at 4 MB, plenty for a console.
      const len = Math.min(Math.max(0, size - offset), 4 << 20)
      const buf = Buffer.alloc(len)
      await fh.read(buf, 0, len, offset)
      return buf.toString('utf8')
    } finally {
      await fh.close()
    }
  } catch {
    return ''
  }
}

/** A failure that QEMU or the guest reported in its logs since `offset`, in one line. */
export function bootFailure(qemuLog: string, consoleLog: string): string | undefined {
  const kvm = /KVM internal error[^\n]*/.exec(qemuLog)
  if (kvm) return `${kvm[0].trim()}: this host's KVM cannot run the guest; use --qemu-accel tcg`
  return guestPanic(consoleLog)
}

export interface WatchInput {
  name: string
  proc: Proc
  qemuLog: string
  consoleLog: string
  logOffset: number
  consoleOffset: number
  qmpSocket: string
  sshPort: number
  timeoutMs: number
  /**
   * A guest whose console stays empty this long never ran: some hosts' KVM accepts the VM and
   * then spins without running guest code (no vmx/svm, nested virtualisation off), reporting no error.
   */
  silentLimitMs?: number
  signal?: AbortSignal
  debug?: (line: string) => void
}

/**
 * Wait until the guest's sshd answers on the forwarded port. A VM that reports a KVM internal
 * error, panics or pauses in error is killed and the reason thrown.
 */
export async function waitBooted(w: WatchInput): Promise<void> {
  const start = Date.now()
  await watchBoot({
    name: w.name, sshPort: w.sshPort, timeoutMs: w.timeoutMs, signal: w.signal, bootLog: w.consoleLog,
    check: async n => {
      if (!(await alive(w.proc))) {
        const why = bootFailure(await readFrom(w.qemuLog, w.logOffset), await readFrom(w.consoleLog, w.consoleOffset)) ?? (await logTail(w.qemuLog, w.logOffset) || 'no message')
        throw new UserError(`QEMU for "${w.name}" exited while booting: ${why}`)
      }
      const consoleText = await readFrom(w.consoleLog, w.consoleOffset)
      const silent = w.silentLimitMs !== undefined && !consoleText && Date.now() - start > w.silentLimitMs
        ? `its console stayed empty for ${Math.round(w.silentLimitMs / 1000)} s under KVM: this host's KVM runs no guest code; use --qemu-accel tcg`
        : undefined
      const failure = bootFailure(await readFrom(w.qemuLog, w.logOffset), consoleText)
        ?? silent
        ?? (n % 6 === 0 ? await runStateFailure(w.qmpSocket) : undefined)
      if (failure) {
        await killProc(w.proc)
        throw new UserError(`"${w.name}" was stopped while booting: ${failure}`)
      }
    },
  })
}

async function runStateFailure(sock: string): Promise<string | undefined> {
  const st = await qmp<{status: string}>(sock, 'query-status', undefined, 2000).catch(() => undefined)
  if (st && ['internal-error', 'guest-panicked', 'io-error', 'shutdown'].includes(st.status)) return `QEMU reports the VM in state "${st.status}"`
  return undefined
}

export async function killProc(p: Proc, timeoutMs = 10_000): Promise<boolean> {
  if (!(await alive(p))) return true
  try {
    process.kill(p.pid!, 'SIGKILL')
  } catch { /* gone meanwhile */ }
  return waitExit(p, timeoutMs)
}

export function waitExit(p: Proc, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  return pollUntil(async () => !(await alive(p)), {timeoutMs, intervalMs: 200, signal})
}

/** ACPI power button, then wait; kill when the guest does not power off in time. */
export async function powerOff(p: Proc, qmpSocket: string, timeoutMs: number, log: (m: string) => void, signal?: AbortSignal): Promise<void> {
  if (!(await alive(p))) return
  const pressed = await qmp(qmpSocket, 'system_powerdown').then(() => true, () => false)
  if (pressed && await waitExit(p, timeoutMs, signal)) return
  log(pressed ? `did not power off within ${Math.round(timeoutMs / 1000)} s: killing it` : 'monitor did not answer: killing it')
  if (!(await killProc(p))) throw new Error(`QEMU process ${p.pid} survived SIGKILL`)
}

