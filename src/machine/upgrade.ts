/**
 * `berth upgrade`: the engine's packages to the newest the host's sources offer, the engine
 * restarted and waited for over mutual TLS, old and new versions reported. A stopped machine is
 * started first; a machine already on the newest packages is left as it is, engine running.
 */
import {type Ctx, engineFor, handleFor, loadDriver, openSSH, withLock} from '../host/index.js'
import {power, provisionOver} from './lifecycle.js'

const prov = () => import('../provision/index.js')

export interface UpgradeReport {
  name: string
  /** Engine package versions (package -> version) before and after. */
  from: Record<string, string>
  to: Record<string, string>
  changed: boolean
  /** The engine's own version as it answers over TLS afterwards, and before (when it answered then). */
  engine: string
  engineFrom?: string
  started: boolean
}

export async function upgradeMachine(ctx: Ctx, name: string): Promise<UpgradeReport> {
  const record0 = await ctx.store.load(name)
  const driver0 = await loadDriver(ctx, record0.driver)
  const stopped = record0.status === 'ready' && await driver0.state(handleFor(ctx, record0)) === 'Stopped'
  if (stopped) await power(ctx, name, 'start')
  return withLock(ctx, name, async record => {
    const driver = await loadDriver(ctx, record.driver)
    const engineFrom = await engineVersion(ctx, record, driver).catch(() => undefined)
    const session = await openSSH(ctx, record)
    let r
    try {
      // As regenerate-certs: berth's engine restart would drop docker-machine's dockerd flags.
      if (record.adopted?.from === 'docker-machine') await provisionOver(ctx, record, driver, session)
      ctx.progress?.(name, 'upgrading Docker')
      r = await (await prov()).upgrade(session, record.engine, m => ctx.progress?.(name, m))
    } finally {
      session.close()
    }
    ctx.progress?.(name, r.changed ? 'waiting for the engine over TLS' : 'already newest: engine left running')
    return {name, ...r, engine: await engineVersion(ctx, record, driver, 60_000), ...(engineFrom ? {engineFrom} : {}), started: stopped}
  })
}

/** The engine's version over mutual TLS, waiting up to `waitMs` for it to answer. */
async function engineVersion(ctx: Ctx, record: Parameters<typeof engineFor>[1], driver: Parameters<typeof engineFor>[2], waitMs = 5_000): Promise<string> {
  const engine = await engineFor(ctx, record, driver)
  try {
    await engine.waitReady(waitMs, ctx.signal)
    return (await engine.version()).Version
  } finally {
    engine.close()
  }
}
