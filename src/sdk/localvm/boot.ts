/**
 * What the drivers of VMs on this host (qemu, virtualbox) share besides leases and the seed:
 * the checks of their inputs, and the watch of a boot until the guest's sshd answers on its
 * forwarded port, ended early by a failure the hypervisor or the guest's console shows.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {poll, UserError} from '../../core/index.js'
import {sshBanner} from '../../ssh/index.js'

/** The base image flag: given, and a file; returned absolute. */
export async function imageOption(options: Record<string, unknown>, flag: string, required: string): Promise<string> {
  const image = options[flag] as string | undefined
  if (!image) throw new UserError(`--${flag} is required: ${required}`)
  const abs = path.resolve(image)
  if (!(await fs.stat(abs).then(s => s.isFile(), () => false))) throw new UserError(`--${flag} ${abs} does not exist`)
  return abs
}

/** Memory in MB (at least 256) and CPUs (1 to 64). */
export function sizeOptions(options: Record<string, unknown>, flags: {memory: string; cpus: string}, dflt: {memoryMb: number; cpus: number}): {memoryMb: number; cpus: number} {
  const memoryMb = Number(options[flags.memory] ?? dflt.memoryMb)
  const cpus = Number(options[flags.cpus] ?? dflt.cpus)
  if (!Number.isInteger(memoryMb) || memoryMb < 256) throw new UserError(`bad --${flags.memory} ${options[flags.memory]}: give MB, at least 256`)
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64) throw new UserError(`bad --${flags.cpus} ${options[flags.cpus]}: give 1 to 64`)
  return {memoryMb, cpus}
}

/** A kernel panic on the guest's console, in one line. */
export function guestPanic(console: string): string | undefined {
  const panic = /Kernel panic - not syncing[^\n]*/.exec(console)
  return panic ? `guest ${panic[0].trim()}` : undefined
}

export interface BootWatch {
  name: string
  /** Loopback port forwarded to the guest's sshd. */
  sshPort: number
  timeoutMs: number
  signal?: AbortSignal
  /** Named in the timeout's message: where the user looks next. */
  bootLog: string
  /** Each round (every 500 ms), before SSH is tried: throw to end the wait (the VM died or panicked). */
  check(round: number): Promise<void>
}

/** Wait until the guest's sshd answers, instead of berth waiting for an SSH that never comes. */
export async function watchBoot(w: BootWatch): Promise<void> {
  let round = 0
  await poll(async () => {
    await w.check(round++)
    return (await sshBanner(w.sshPort)) || undefined
  }, {
    timeoutMs: w.timeoutMs, intervalMs: 500, signal: w.signal,
    // What check throws is the VM's failure: no point waiting on.
    fatal: () => true,
    timeoutError: () => new UserError(`"${w.name}" did not answer SSH within ${Math.round(w.timeoutMs / 1000)} s: its boot log is ${w.bootLog}`),
  })
}
