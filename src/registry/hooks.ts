/**
 * What the machine lifecycle asks of registries: trust on join, restart after a host start,
 * and cleanup (with a warning naming what depended on it) when the registry's host goes.
 */
import {errorMessage, parallel} from '../core/index.js'
import {type Ctx, openSSH} from '../host/index.js'
import type {MachineRecord} from '../store/index.js'
import type {SSHSession} from '../ssh/index.js'
import {members} from '../swarm/index.js'
import {listRecords, removeRecord, type RegistryRecord} from './records.js'
import {startScript} from './host.js'

const certs = () => import('../certs/index.js')
const prov = () => import('../provision/index.js')

/**
 * A machine joining `swarm` trusts its registries and takes its mirrors. With reload false the
 * engine is yet to be (re)configured from the record, so daemon.json is left to the provisioner.
 */
export async function trustOnJoin(ctx: Ctx, record: MachineRecord, swarm: string, s: SSHSession, opts: {reload: boolean}): Promise<void> {
  const regs = (await listRecords(ctx.store)).filter(r => r.swarm === swarm && r.status === 'ready')
  if (!regs.length) return
  const ca = (await (await certs()).loadCA(ctx.store.certsDir)).certPem
  const p = await prov()
  for (const r of regs) await p.trustRegistry(s, r.address, ca)
  const want = [...new Set([...record.engine.registryMirrors, ...regs.filter(r => r.mirror).map(r => `https://${r.address}`)])]
  if (want.length === record.engine.registryMirrors.length) return
  record.engine.registryMirrors = want
  await ctx.store.save(record)
  if (opts.reload) await p.setRegistryMirrors(s, want)
}

/** After `berth start`: the registries it hosts come back (hosts without init), and its trust is renewed. */
export async function afterHostStart(ctx: Ctx, record: MachineRecord, s: SSHSession): Promise<void> {
  const regs = await listRecords(ctx.store)
  for (const r of regs.filter(x => x.machine === record.name && x.service === 'process')) {
    await s.run(startScript(r.port), {root: true, what: `start registry ${r.address}`})
  }
  if (record.swarm) await trustOnJoin(ctx, record, record.swarm.name, s, {reload: true})
}

/** The registries a machine runs go with it: warn with who used them, and undo their trust elsewhere. */
export async function onHostRemove(ctx: Ctx, record: MachineRecord): Promise<void> {
  const regs = (await listRecords(ctx.store)).filter(r => r.machine === record.name)
  for (const r of regs) {
    const others = (await members(ctx, r.swarm)).filter(m => m.name !== record.name && m.status === 'ready')
    const users = await dependants(ctx, r, others)
    ctx.warn?.(`registry ${r.address} (swarm ${r.swarm}) is removed with ${record.name}${users.length ? `: ${users.join('; ')} depended on it` : ''}`)
    await parallel(others, 8, async m => {
      const s = await openSSH(ctx, m, {timeoutSec: 10})
      try {
        await (await prov()).untrustRegistry(s, r.address)
        const url = `https://${r.address}`
        if (m.engine.registryMirrors.includes(url)) {
          m.engine.registryMirrors = m.engine.registryMirrors.filter(u => u !== url)
          await ctx.store.save(m)
          await (await prov()).setRegistryMirrors(s, m.engine.registryMirrors)
        }
      } finally {
        s.close()
      }
    }).then(res => res.forEach((x, i) => x.status === 'rejected' && ctx.warn?.(`${others[i].name}: ${errorMessage(x.reason)}`)))
    await removeRecord(ctx.store, r.name)
  }
}

/** Who used a registry: members trusting it, those with it as their mirror, and mirrors pulling through it. */
async function dependants(ctx: Ctx, r: RegistryRecord, others: MachineRecord[]): Promise<string[]> {
  const out: string[] = []
  if (others.length) out.push(`members ${others.map(m => m.name).join(', ')} (trust${r.mirror ? ', registry mirror' : ''})`)
  const mirrors = (await listRecords(ctx.store)).filter(x => x.mirror && new URL(x.mirror).host === r.address)
  if (mirrors.length) out.push(`the mirror${mirrors.length > 1 ? 's' : ''} ${mirrors.map(x => x.address).join(', ')} (upstream)`)
  return out
}

/** machine -> its registries' addresses, for `berth ls`: one small read of the store. */
export async function registryMarks(ctx: Ctx): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  for (const r of await listRecords(ctx.store)) out.set(r.machine, [...out.get(r.machine) ?? [], `:${r.port}${r.mirror ? ' (mirror)' : ''}`])
  return out
}
