/**
 * KVM or TCG. KVM needs the CPU's virtualisation extensions (vmx/svm in /proc/cpuinfo) AND a
 * /dev/kvm this user can open: a /dev/kvm without them (nested setups, some sandboxes) accepts
 * the ioctl calls but cannot run a normal guest, so it does not count.
 */
import {constants, promises as fs} from 'node:fs'
import {UserError} from '../../src/sdk/index.js'

export type Accel = 'kvm' | 'tcg'
export const ACCEL_CHOICES = ['auto', 'kvm', 'tcg'] as const

export interface KvmProbe {
  cpuinfo: string
  /** Whether /dev/kvm exists and opens read-write for this user. */
  devKvm: 'usable' | 'missing' | 'denied'
}

export function cpuHasVirt(cpuinfo: string): 'vmx' | 'svm' | undefined {
  for (const line of cpuinfo.split('\n')) {
    if (!/^flags\s*:/.test(line)) continue
    const flags = new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/))
    if (flags.has('vmx')) return 'vmx'
    if (flags.has('svm')) return 'svm'
  }
  return undefined
}

export async function probeKvm(): Promise<KvmProbe> {
  const cpuinfo = await fs.readFile('/proc/cpuinfo', 'utf8').catch(() => '')
  let devKvm: KvmProbe['devKvm'] = 'usable'
  try {
    await fs.access('/dev/kvm', constants.R_OK | constants.W_OK)
  } catch (err) {
    devKvm = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'denied'
  }
  return {cpuinfo, devKvm}
}

export interface AccelChoice {
  accel: Accel
  /** Why, in a few words, for `inspect` and the create log. */
  reason: string
  /** A forced choice that will probably fail: said to the user, not refused. */
  warning?: string
}

export function chooseAccel(requested: string, probe: KvmProbe): AccelChoice {
  if (!(ACCEL_CHOICES as readonly string[]).includes(requested)) throw new UserError(`bad --qemu-accel "${requested}": use auto, kvm or tcg`)
  const virt = cpuHasVirt(probe.cpuinfo)
  const why = probe.devKvm === 'missing' ? '/dev/kvm does not exist'
    : probe.devKvm === 'denied' ? '/dev/kvm is not accessible to this user (add it to the kvm group)'
      : !virt ? 'the CPU offers no vmx/svm (see /proc/cpuinfo), so /dev/kvm cannot run a guest' : ''
  if (requested === 'tcg') return {accel: 'tcg', reason: 'requested (--qemu-accel tcg)'}
  if (requested === 'kvm') {
    if (probe.devKvm !== 'usable') throw new UserError(`--qemu-accel kvm: ${why}; use --qemu-accel tcg (slower, works everywhere)`)
    return {accel: 'kvm', reason: virt ? `requested; CPU has ${virt}` : 'requested', warning: virt ? undefined : `--qemu-accel kvm: ${why}; the VM will probably fail to boot (berth stops it if KVM reports an internal error)`}
  }
  if (virt && probe.devKvm === 'usable') return {accel: 'kvm', reason: `CPU has ${virt} and /dev/kvm is usable`}
  return {accel: 'tcg', reason: `KVM unusable: ${why}`}
}
