/**
 * What the mesh adds to the swarm's views: the ingress network sized to fit inside the tunnel,
 * and, for `swarm doctor`, the WireGuard path of every pair as the tunnels themselves report it.
 */
import {poll, type PortPath} from '../core/index.js'
import {type Ctx, engineFor} from '../host/index.js'
import type {MachineRecord} from '../store/index.js'
import type {SSHSession} from '../ssh/index.js'
import {OVERLAY_MTU, SHOW} from './scripts.js'

const MTU_OPT = 'com.docker.network.driver.mtu'

/**
 * Swarm's ingress network is made at init with the underlay's MTU (1450 inside VXLAN); over the
 * mesh that no longer fits. Right after init, when nothing uses it yet, it is made again with
 * the overlay MTU the tunnel leaves. Overlays the user makes take `-o ${MTU_OPT}=${OVERLAY_MTU}`.
 */
export async function fitIngress(ctx: Ctx, manager: MachineRecord): Promise<void> {
  const engine = await engineFor(ctx, manager)
  try {
    const nets = await engine.request<Array<{Id: string; Name: string; Ingress?: boolean; Options?: Record<string, string>}>>('GET', '/networks?filters=' + encodeURIComponent(JSON.stringify({name: ['ingress']})))
    const ingress = nets.find(n => n.Ingress)
    if (ingress?.Options?.[MTU_OPT] === String(OVERLAY_MTU)) return
    if ((await engine.request<unknown[]>('GET', '/services')).length) {
      ctx.warn?.(`swarm of ${manager.name}: services exist, so the ingress network keeps its MTU; published ports may stall on packets over ${OVERLAY_MTU} bytes`)
      return
    }
    ctx.progress?.(manager.name, `ingress network: MTU ${OVERLAY_MTU} to fit inside the WireGuard tunnel`)
    if (ingress) await engine.request('DELETE', `/networks/${ingress.Id}`)
    // The old ingress takes a moment to go: "network with name ingress already exists" until then.
    await poll(async () => {
      await engine.request('POST', '/networks/create', {Name: 'ingress', Driver: 'overlay', Ingress: true, CheckDuplicate: true, Options: {[MTU_OPT]: String(OVERLAY_MTU)}})
      return true
    }, {timeoutMs: 30_000, intervalMs: 500, signal: ctx.signal})
  } finally {
    engine.close()
  }
}

/** A handshake older than this (with keepalive every 25 s, sessions renew every 2 minutes) is a dead tunnel. */
const FRESH_SEC = 300

function parseShow(out: string): {handshakes: Map<string, number>; endpoints: Map<string, string>; now: number} {
  const handshakes = new Map<string, number>()
  const endpoints = new Map<string, string>()
  let part = ''
  let now = Math.floor(Date.now() / 1000)
  for (const line of out.split('\n')) {
    const w = line.trim().split(/\s+/)
    if (w[0] === 'handshakes' || w[0] === 'endpoints') part = w[0]
    else if (w[0] === 'now') now = Number(w[1])
    else if (w.length === 2 && part === 'handshakes') handshakes.set(w[0], Number(w[1]))
    else if (w.length === 2 && part === 'endpoints') endpoints.set(w[0], w[1])
  }
  return {handshakes, endpoints, now}
}

/**
 * Each member's tunnel to each other one: green when the two completed a handshake lately (which
 * takes UDP both ways on the mesh port, through any NAT between them), with the endpoint the
 * sender's tunnel uses now (a NAT'd member's public side, learnt from its handshakes).
 */
export async function meshPaths(ms: Array<{record: MachineRecord; session: SSHSession}>): Promise<PortPath[]> {
  const shows = await Promise.all(ms.map(m => m.session.exec(SHOW, {root: true}).then(r => r.code === 0 ? parseShow(r.stdout) : r.stderr.trim() || `exit ${r.code}`, e => String(e))))
  const out: PortPath[] = []
  for (const [i, from] of ms.entries()) {
    for (const [j, to] of ms.entries()) {
      if (i === j || !to.record.mesh?.publicKey) continue
      const show = shows[i]
      const key = to.record.mesh.publicKey
      const p: PortPath = {from: from.record.name, to: to.record.name, address: to.record.mesh.endpoint ?? '?', port: to.record.mesh.port, proto: 'udp', ok: false}
      if (typeof show === 'string') {
        Object.assign(p, {reason: `${from.record.name}'s WireGuard interface could not be read: ${show.split('\n').pop()}`, fix: `berth restart ${from.record.name} brings the mesh back up`})
      } else {
        const at = show.handshakes.get(key)
        const seen = show.endpoints.get(key)
        if (seen && seen !== '(none)') p.seenAs = seen
        p.ok = Boolean(at && show.now - at < FRESH_SEC)
        if (at === undefined) Object.assign(p, {reason: `${to.record.name} is not a WireGuard peer of ${from.record.name}`, fix: `berth rm and create ${to.record.name} again, or berth restart ${from.record.name}`})
        else if (!p.ok) Object.assign(p, {reason: `no WireGuard handshake between ${from.record.name} and ${to.record.name} ${at ? `for ${show.now - at} s` : 'yet'}: ${to.record.mesh.port}/udp is blocked both ways, or both are behind NAT`, fix: `admit ${to.record.mesh.port}/udp to ${to.record.name} (${to.record.mesh.endpoint}) from the other members`})
      }
      out.push(p)
    }
  }
  return out
}
