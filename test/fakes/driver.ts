/**
 * A real Driver, in memory: create "makes" resources in a FakeCloud (a network, a disk, a VM,
 * each saved through ctx.save as soon as it exists, as cloud drivers must), remove deletes what
 * the record names. Tests inject a failure at a step and then look at what is left in the cloud.
 * The host it points SSH at is whatever the test gives: a FakeSshd, or a port nothing answers on.
 * The cloud can live in a file so that a create killed in another process leaves it behind.
 */
import {readFileSync, writeFileSync} from 'node:fs'
import type {Driver, DriverContext, DriverRegistry, MachineHandle, MachineState} from '../../src/sdk/index.js'
import {UserError} from '../../src/sdk/index.js'

export class FakeCloud {
  private readonly items = new Map<string, {kind: string; machine: string; state: MachineState}>()
  /** Resources whose delete fails (as a cloud API refusing it would). */
  readonly stuck = new Set<string>()

  constructor(private readonly file?: string) {
    if (file) {
      try {
        for (const [k, v] of Object.entries(JSON.parse(readFileSync(file, 'utf8')))) this.items.set(k, v as never)
      } catch { /* a new cloud */ }
    }
  }

  add(id: string, kind: string, machine: string): void {
    this.items.set(id, {kind, machine, state: 'Running'})
    this.persist()
  }

  delete(id: string): boolean {
    if (this.stuck.has(id)) return false
    this.items.delete(id)
    this.persist()
    return true
  }

  get(id: string) {
    return this.items.get(id)
  }

  setState(id: string, state: MachineState): void {
    const it = this.items.get(id)
    if (it) it.state = state
    this.persist()
  }

  /** Ids of what exists, optionally for one machine. */
  ids(machine?: string): string[] {
    return [...this.items].filter(([, v]) => !machine || v.machine === machine).map(([k]) => k).sort()
  }

  private persist(): void {
    if (this.file) writeFileSync(this.file, JSON.stringify(Object.fromEntries(this.items)))
  }
}

export type FakeStep = 'preCreate' | 'network' | 'disk' | 'vm'

export interface FakeDriverOptions {
  cloud: FakeCloud
  /** Port of the host's sshd (a FakeSshd, or a closed port); read at each call. */
  sshPort: () => number
  enginePort?: () => number
  /** The step that throws (after the resources before it exist). */
  failAt?: FakeStep
  /** Called with the machine's public key once its VM exists (cloud-init's authorized_keys). */
  onVm?: (publicKey: string) => void
  /** Called after the VM exists, before create returns (e.g. to kill the process there). */
  afterVm?: () => void | Promise<void>
}

interface FakeData {
  resources: string[]
  size: string
}

export function fakeDriver(o: FakeDriverOptions): Driver<FakeData> {
  const vm = (m: MachineHandle<FakeData>) => m.data.resources.find(r => o.cloud.get(r)?.kind === 'vm')
  const setVm = async (m: MachineHandle<FakeData>, state: MachineState) => {
    const id = vm(m)
    if (!id) throw new UserError(`fake: ${m.machineName} has no VM`)
    o.cloud.setState(id, state)
  }
  return {
    name: 'fake',
    sshTimeout: 5,
    async preCreate(options) {
      if (o.failAt === 'preCreate') throw new UserError('fake: bad --fake-size')
      return {data: {resources: [], size: String(options['fake-size'] ?? 'small')}}
    },
    async create(ctx: DriverContext<FakeData>, own: FakeData) {
      for (const kind of ['network', 'disk', 'vm'] as const) {
        if (o.failAt === kind) throw new Error(`fake: cloud refused the ${kind}`)
        const id = `${kind}-${ctx.machineId}`
        o.cloud.add(id, kind, ctx.machineName)
        own.resources.push(id)
        await ctx.save(own)
        if (kind === 'vm') o.onVm?.(ctx.sshPublicKey)
      }
      await o.afterVm?.()
      return own
    },
    async remove(m) {
      const left = m.data.resources.filter(id => o.cloud.get(id) && !o.cloud.delete(id))
      return left.map(id => `${id}: the cloud refused to delete it`)
    },
    start: m => setVm(m, 'Running'),
    stop: m => setVm(m, 'Stopped'),
    restart: m => setVm(m, 'Running'),
    kill: m => setVm(m, 'Stopped'),
    async state(m) {
      const id = vm(m)
      return id ? o.cloud.get(id)?.state ?? 'NotFound' : 'NotFound'
    },
    async ip() {
      return '127.0.0.1'
    },
    async sshEndpoint() {
      return {host: '127.0.0.1', port: o.sshPort(), user: 'root'}
    },
    enginePort: () => o.enginePort?.() ?? 2376,
  }
}

export function fakeRegistry(o: FakeDriverOptions): DriverRegistry {
  return {
    fake: {
      description: 'in-memory driver for tests',
      flags: [{name: 'fake-size', description: 'size', type: 'string'}],
      load: async () => fakeDriver(o),
    },
  }
}
