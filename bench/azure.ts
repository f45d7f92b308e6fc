/**
 * Azure driver bench: ARM calls per machine and wall time to create (and remove) 1 machine vs
 * 10 in parallel, against the ARM simulator (lab hosts as VMs, Retry-After 1 s on every
 * long-running operation). The driver runs in a child process, as berth would, trusting the
 * simulator's CA through NODE_EXTRA_CA_CERTS; the simulator counts the calls. Needs root.
 *
 *   node dist/bench/azure.js            # run the bench
 */
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import os from 'node:os'
import {fileURLToPath} from 'node:url'
import {tmp} from './tmp.js'
import {berth, scaleMachines} from './openstack.js'

const SELF = fileURLToPath(import.meta.url)

/** Worker: create n machines in parallel with the driver itself, then remove them; print timings. */
async function worker(n: number): Promise<void> {
  const driver = (await import('../drivers/azure/driver.js')).default
  const {generateKeyPair} = await import('../src/ssh/index.js')
  const key = (await generateKeyPair('bench')).publicKey
  const machines = await Promise.all(Array.from({length: n}, async (_, i) => {
    const machineName = `bench${i}`
    const machineId = randomBytes(8).toString('hex')
    const data = await driver.preCreate({
      'azure-subscription-id': process.env.AZURE_SUBSCRIPTION_ID, 'azure-tenant-id': process.env.AZURE_TENANT_ID, 'azure-client-id': process.env.AZURE_CLIENT_ID,
      'azure-client-secret': process.env.AZURE_CLIENT_SECRET, 'azure-resource-manager-endpoint': process.env.AZURE_RESOURCE_MANAGER_ENDPOINT,
      'azure-resource-group': 'bench', 'azure-location': 'japaneast', 'azure-size': 'Standard_B2s', 'azure-image': 'Debian:debian-12:12-gen2:latest',
    }, {machineName, machineId, warn() {}})
    return {machineName, machineId, ...data}
  }))
  const noop = () => {}
  const t0 = performance.now()
  const made = await Promise.all(machines.map(m => driver.create({
    ...m, machineDir: os.tmpdir(), driverDir: os.tmpdir(), sshPublicKey: key, signal: new AbortController().signal,
    save: async () => {}, log: noop, debug: noop, warn: noop,
  }, m.data)))
  const createMs = performance.now() - t0
  process.stdout.write(JSON.stringify({phase: 'created', createMs}) + '\n')
  // Wait for the parent to snapshot its counters between the phases.
  await new Promise(resolve => process.stdin.once('data', resolve))
  const t1 = performance.now()
  const left = await Promise.all(machines.map((m, i) => driver.remove({...m, machineDir: os.tmpdir(), driverDir: os.tmpdir(), data: made[i], log: noop, debug: noop, save: async () => {}})))
  const removeMs = performance.now() - t1
  process.stdout.write(JSON.stringify({phase: 'removed', removeMs, left: left.flat()}) + '\n')
}

interface Round {
  createMs: number
  removeMs: number
  createCalls: number
  createPolls: number
  removeCalls: number
  tokenCalls: number
}

async function round(n: number): Promise<Round> {
  const {startAzureSim} = await import('../test/sim/azure.js')
  const sim = await startAzureSim({labRoot: tmp('az'), labSubnet: '172.30.183.0/24', retryAfter: 1, nicReservationMs: 1000})
  try {
    const child = spawn(process.execPath, [SELF, '--worker', String(n)], {env: {...process.env, ...sim.env()}, stdio: ['pipe', 'pipe', 'inherit']})
    const lines: Record<string, any>[] = []
    let buf = ''
    let created = 0
    const armCalls = () => sim.calls.filter(c => c.kind !== 'token').length
    const polls = () => sim.calls.filter(c => c.kind === 'poll').length
    let createPolls = 0
    child.stdout.on('data', d => {
      buf += d
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, i))
        buf = buf.slice(i + 1)
        lines.push(line)
        if (line.phase === 'created') {
          created = armCalls()
          createPolls = polls()
          child.stdin.write('go\n')
        }
      }
    })
    const code = await new Promise<number>(resolve => child.on('close', c => resolve(c ?? 1)))
    const done = lines.find(l => l.phase === 'removed')
    if (code !== 0 || !done) throw new Error(`azure bench worker (${n} machines) failed with exit ${code}`)
    if (done.left.length || sim.inventory().length) throw new Error(`azure bench left resources: ${[...done.left, ...sim.inventory()].join(', ')}`)
    return {
      createMs: lines.find(l => l.phase === 'created')!.createMs, removeMs: done.removeMs,
      createCalls: created / n, createPolls: createPolls / n, removeCalls: (armCalls() - created) / n,
      tokenCalls: sim.calls.filter(c => c.kind === 'token').length,
    }
  } finally {
    await sim.close()
  }
}

/**
 * `berth create -d azure` of n machines in one process, under ARM's published throttling
 * limits: real lab hosts provisioned with engines, then `berth rm` of them all.
 */
async function cliRound(n: number): Promise<Record<string, number | string>> {
  const {startAzureSim, ARM_LIMITS} = await import('../test/sim/azure.js')
  const sim = await startAzureSim({labRoot: tmp('azs'), labSubnet: '172.30.128.0/24', retryAfter: 1, nicReservationMs: 1000, throttle: ARM_LIMITS})
  const env = {...sim.env(), BERTH_STORAGE_PATH: tmp('azstore'), AZURE_LOCATION: 'japaneast'}
  const names = Array.from({length: n}, (_, i) => `az${i}`)
  try {
    const t0 = performance.now()
    const cpu = await berth(['create', '-d', 'azure', '--parallel', String(Math.min(n, 50)), ...names], env)
    const seconds = (performance.now() - t0) / 1000
    const calls = [...sim.calls]
    const throttled = sim.throttled.reads + sim.throttled.writes + sim.throttled.deletes
    const arm = calls.filter(c => c.kind !== 'token')
    const answered = arm.filter(c => c.status !== 429)
    const cls = (m: string) => (m === 'GET' || m === 'HEAD' ? 'reads' : m === 'DELETE' ? 'deletes' : 'writes')
    const byClass = ['reads', 'writes'].map(k => `${k} ${(answered.filter(c => cls(c.method) === k).length / n).toFixed(2)}`).join(', ')
    const t1 = performance.now()
    await berth(['rm', '-f', '-y', ...names], env)
    const rmSeconds = (performance.now() - t1) / 1000
    const rmCalls = sim.calls.length - calls.length
    await sim.settle()
    const left = sim.inventory()
    if (left.length) throw new Error(`azure scale bench left resources: ${left.slice(0, 5).join(', ')}`)
    return {
      [`create ${n} in one berth create under ARM limits (s)`]: Number(seconds.toFixed(2)),
      [`ARM calls per machine (${n}, 429s included)`]: Number((arm.length / n).toFixed(1)),
      [`of which LRO polls per machine (${n})`]: Number((arm.filter(c => c.kind === 'poll').length / n).toFixed(1)),
      [`answered ARM calls per machine by limit class (${n})`]: byClass,
      [`429 answers seen (${n} machines), all retried`]: throttled,
      [`token requests (${n} machines, one process)`]: calls.filter(c => c.kind === 'token').length,
      [`rm ${n} machines (s), ARM calls per machine`]: `${rmSeconds.toFixed(2)} s, ${(rmCalls / n).toFixed(1)}`,
      'berth CPU per created host (user+sys of the berth process)': `${(cpu / n).toFixed(3)} s`,
      'resources left after rm': left.length,
    }
  } finally {
    await sim.close()
  }
}

export async function benchAzure(): Promise<Record<string, number | string>> {
  const one = await round(1)
  const ten = await round(10)
  const big = await cliRound(scaleMachines())
  const r = (x: number, d = 1) => Number(x.toFixed(d))
  return {
    arm_calls_per_machine_create_1: r(one.createCalls),
    arm_calls_per_machine_create_10: r(ten.createCalls),
    of_which_lro_polls_1: r(one.createPolls),
    arm_calls_per_machine_remove_1: r(one.removeCalls),
    arm_calls_per_machine_remove_10: r(ten.removeCalls),
    token_requests_per_process: ten.tokenCalls,
    create_wall_s_1: r(one.createMs / 1000, 2),
    create_wall_s_10_parallel: r(ten.createMs / 1000, 2),
    create_10_vs_1: `${r(ten.createMs / one.createMs, 2)}x`,
    remove_wall_s_1: r(one.removeMs / 1000, 2),
    remove_wall_s_10_parallel: r(ten.removeMs / 1000, 2),
    ...big,
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === '--worker') {
    await worker(Number(process.argv[3]))
    process.exit(0)
  }
  const results = await benchAzure()
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(40)} ${v}`)
}
