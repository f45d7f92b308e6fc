/**
 * OpenStack driver bench: API calls per created machine and wall time of `berth create` for
 * 1 machine vs 10 in parallel (one process, so one token and one set of name lookups), and
 * 100 (BERTH_BENCH_CLOUD_MACHINES) in one create behind a throttling gateway (429 + Retry-After),
 * with berth's own CPU per host. The real CLI against the
 * OpenStack simulator, whose servers are lab hosts provisioned with real engines. Needs root.
 *
 *   node dist/bench/openstack.js
 */
import {spawn} from 'node:child_process'
import path from 'node:path'
import {tmp} from './tmp.js'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {OpenStackSim} from '../test/sim/openstack.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = path.join(ROOT, 'bin', 'run.js')
const tmpOs = (p: string) => tmp(`os-${p}`)

/** Run berth; resolves with the CPU seconds (user+sys) of its process, as bash's `times` reports its child. */
export function berth(args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const script = '"$@" 3>&- ; rc=$?; times >&3; exit $rc'
    const child = spawn('bash', ['-c', script, 'bash', process.execPath, BIN, ...args], {env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'pipe', 'pipe']})
    let err = ''
    let times = ''
    child.stderr!.on('data', d => (err += d))
    child.stdio[3]!.on('data', d => (times += d))
    child.on('error', reject)
    child.on('close', code => {
      if (code !== 0) return reject(new Error(`berth ${args.slice(0, 4).join(' ')} ... exited ${code}: ${err.trim().split('\n').filter(l => l.startsWith('berth:')).slice(0, 5).join(' | ')}`))
      // Second line: the children's user and system time, e.g. "0m1.234s 0m0.567s".
      const secs = (times.trim().split('\n')[1] ?? '').split(/\s+/).map(t => /(\d+)m([\d.]+)s/.exec(t)).reduce((a, m) => a + (m ? Number(m[1]) * 60 + Number(m[2]) : 0), 0)
      resolve(secs)
    })
  })
}

/** How many machines the scale rounds create (100 unless BERTH_BENCH_CLOUD_MACHINES says otherwise). */
export const scaleMachines = () => Number(process.env.BERTH_BENCH_CLOUD_MACHINES) || 100

export async function benchOpenstack(): Promise<Record<string, number | string>> {
  if (process.getuid?.() !== 0) throw new Error('the openstack bench needs root (lab hosts)')
  // Security groups stay API objects here (no iptables in each host): at 100 hosts the simulator's own
  // per-rule, per-member iptables work would time the API out; the openstack e2e tests enforce them.
  const sim = await OpenStackSim.start({boot: 'lab', subnet: '172.30.127.0/24', labRoot: tmpOs('lab')})
  const env = {
    BERTH_STORAGE_PATH: tmpOs('store'), OS_AUTH_URL: sim.authUrl('3'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_NAME: 'demo', OS_DOMAIN_NAME: 'Default',
    OS_FLAVOR_NAME: 'm1.small', OS_IMAGE_NAME: 'ubuntu-24.04', OS_NETWORK_NAME: 'private', OS_FLOATINGIP_POOL: 'public', OS_OPEN_CIDR: '172.30.127.1/32', OS_CLOUD: '',
  }
  const out: Record<string, number | string> = {}
  /** Create then remove `n` machines in one berth process each; calls and seconds of the create. */
  const round = async (n: number, prefix: string, extra: Record<string, string> = {}) => {
    const names = Array.from({length: n}, (_, i) => `${prefix}${i}`)
    sim.resetCounters()
    const t0 = performance.now()
    const cpu = await berth(['create', '-d', 'openstack', '--parallel', String(n), ...names], {...env, ...extra})
    const seconds = (performance.now() - t0) / 1000
    const calls = sim.totalCalls()
    const perOp = [...sim.calls].map(([op, c]) => `${op.replace(/^(keystone|nova|neutron|glance|cinder)\./, '')} ${c}`).join(', ')
    // What the published limits count: answered calls by service and verb, per machine.
    const byVerb = new Map<string, number>()
    for (const r of sim.requests) if (r.status !== 429) byVerb.set(`${r.op.split('.')[0]} ${r.method}`, (byVerb.get(`${r.op.split('.')[0]} ${r.method}`) ?? 0) + 1)
    const verbs = [...byVerb].sort().map(([k, c]) => `${k} ${(c / n).toFixed(2)}`).join(', ')
    const throttled = sim.throttled
    sim.resetCounters()
    const t1 = performance.now()
    await berth(['rm', '-y', ...names], env)
    const rmSeconds = (performance.now() - t1) / 1000
    const rmCalls = sim.totalCalls()
    await sim.settle()
    return {seconds, calls, perMachine: calls / n, perOp, verbs, throttled, rmSeconds, rmPerMachine: rmCalls / n, cpuPerHost: cpu / n}
  }
  try {
    const one = await round(1, 'b')
    out['API calls per created machine (1 machine)'] = one.perMachine
    out['API calls of 1 create, by operation'] = one.perOp
    out['create 1 machine (s)'] = Number(one.seconds.toFixed(2))
    const ten = await round(10, 't')
    out['API calls per created machine (10 in one create)'] = Number(ten.perMachine.toFixed(1))
    out['create 10 machines in parallel (s)'] = Number(ten.seconds.toFixed(2))
    out['10 vs 1 wall time'] = `${(ten.seconds / one.seconds).toFixed(2)}x`
    out['rm 10 machines (s)'] = Number(ten.rmSeconds.toFixed(2))
    const n = scaleMachines()
    sim.setRateLimit({perSecond: 10, burst: 5, retryAfterSec: 1})
    // Fixed addresses only: the simulator's floating IPs come from the same lab /24, too small for 2 x 100.
    const big = await round(n, 'x', {OS_FLOATINGIP_POOL: ''})
    sim.setRateLimit(undefined)
    out[`create ${n} in one create behind 10 req/s throttling (s)`] = Number(big.seconds.toFixed(2))
    out[`429 answers seen (${n} machines), all retried`] = big.throttled
    out[`API calls per created machine (${n}, throttled, 429s included)`] = Number(big.perMachine.toFixed(1))
    out[`answered calls per machine by service and verb (${n})`] = big.verbs
    out[`rm ${n} machines (s), API calls per machine`] = `${big.rmSeconds.toFixed(2)} s, ${big.rmPerMachine.toFixed(1)}`
    out['berth CPU per created host (user+sys of the berth process)'] = `${big.cpuPerHost.toFixed(3)} s`
    const left = Object.values(await sim.inventory()).reduce((a, v) => a + v.length, 0)
    out['resources left after rm'] = left
  } finally {
    await sim.close()
  }
  return out
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchOpenstack()
  for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(64)} ${v}`)
}
