/**
 * What placement through `berth swarm manage` costs: the stock `docker run -d` (and a bare API
 * create) through the endpoint against the same on one engine directly, median of N, on three
 * lab machines in one swarm. The endpoint reads every engine's containers and images for each
 * decision, so the overhead is that read plus one extra TLS hop.
 */
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {mkdirSync, symlinkSync} from 'node:fs'
import path from 'node:path'
import {poll} from '../src/core/index.js'
import {Engine, tlsFromDir} from '../src/engine/index.js'
import {tmp} from './tmp.js'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = path.join(ROOT, 'bin', 'run.js')
const N = 21
const MACHINES = ['bm1', 'bm2', 'bm3']

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function busyboxTar(): Buffer {
  const dir = tmp('rootfs')
  mkdirSync(path.join(dir, 'bin'))
  execFileSync('cp', ['/bin/busybox', path.join(dir, 'bin', 'busybox')])
  for (const c of ['sh', 'true', 'sleep']) symlinkSync('busybox', path.join(dir, 'bin', c))
  return execFileSync('tar', ['-C', dir, '-c', '.'], {maxBuffer: 64 << 20})
}

function docker(args: string[], env: Record<string, string>, input?: Buffer): string {
  return execFileSync('docker', args, {env: {...process.env, ...env}, input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000}).toString()
}

/** An engine client for DOCKER_HOST and DOCKER_CERT_PATH, as `berth env --json` prints them. */
function target(dockerEnv: Record<string, string>): Engine {
  const u = new URL(dockerEnv.DOCKER_HOST.replace(/^tcp:/, 'https:'))
  return new Engine(u.hostname, Number(u.port), tlsFromDir(dockerEnv.DOCKER_CERT_PATH))
}

export async function benchManage(): Promise<Record<string, number | string>> {
  const env = {BERTH_STORAGE_PATH: tmp('mgstore'), BERTH_LAB_DIR: tmp('mglab'), BERTH_LAB_SUBNET: '172.30.95.0/24'}
  const berth = (args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    if (r.status !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`)
    return r.stdout.toString()
  }
  berth(['create', '--swarm', 'bench', ...MACHINES])
  const manage = spawn(process.execPath, [BIN, 'swarm', 'manage', 'bench', '--listen', '127.0.0.1:0'], {env: {...process.env, ...env}, stdio: 'ignore'})
  const engines: Engine[] = []
  try {
    const tar = busyboxTar()
    const envs = MACHINES.map(m => JSON.parse(berth(['env', m, '--json'])) as Record<string, string>)
    const direct = envs[0]
    for (const e of envs) docker(['import', '-', 'bb:v1'], e, tar)
    const through = await poll(async () => {
      const r = spawnSync(process.execPath, [BIN, 'env', '--swarm', 'bench', '--manage', '--json'], {env: {...process.env, ...env}})
      return r.status === 0 ? JSON.parse(r.stdout.toString()) as Record<string, string> : undefined
    }, {timeoutMs: 20_000, intervalMs: 100, what: 'berth swarm manage did not start'})
    const rmAll = (e: Record<string, string>) => {
      const ids = docker(['ps', '-aq'], e).trim().split('\n').filter(Boolean)
      if (ids.length) docker(['rm', '-f', ...ids], e)
    }
    const time = (fn: () => void) => {
      const t0 = process.hrtime.bigint()
      fn()
      return Number(process.hrtime.bigint() - t0) / 1e6
    }
    // docker run -d, the stock CLI: a fresh process per run, as a user types it. The direct runs
    // go round the same three engines the endpoint spreads over, so both sides start containers
    // on the same machines in turn.
    const runEp: number[] = []
    const runDirect: number[] = []
    docker(['run', '-d', 'bb:v1', 'true'], through)
    for (let i = 0; i < N; i++) {
      runDirect.push(time(() => docker(['run', '-d', 'bb:v1', 'sleep', '600'], envs[i % envs.length])))
      runEp.push(time(() => docker(['run', '-d', 'bb:v1', 'sleep', '600'], through)))
    }
    rmAll(through)
    // The bare API create, over kept-alive connections: the placement hop on its own.
    const tEp = target(through)
    const tDirect = target(direct)
    engines.push(tEp, tDirect)
    const body = {Image: 'bb:v1', Cmd: ['true']}
    const createEp: number[] = []
    const createDirect: number[] = []
    for (let i = 0; i < N + 2; i++) {
      for (const [t, into] of [[tDirect, createDirect], [tEp, createEp]] as const) {
        const t0 = process.hrtime.bigint()
        const r = await t.call<{Id: string}>('POST', '/v1.41/containers/create', body)
        const ms = Number(process.hrtime.bigint() - t0) / 1e6
        if (r.status !== 201) throw new Error(`create: ${JSON.stringify(r.body)}`)
        if (i >= 2) into.push(ms)
        await t.call('DELETE', `/v1.41/containers/${r.body.Id}?force=1`)
      }
    }
    const f = (x: number) => `${x.toFixed(1)} ms`
    const mr = median(runEp)
    const md = median(runDirect)
    const ce = median(createEp)
    const cd = median(createDirect)
    return {
      [`docker run -d through the endpoint (median of ${N}, 3 machines)`]: f(mr),
      [`docker run -d on the engines directly (median of ${N})`]: f(md),
      'docker run -d overhead of placement': `${f(mr - md)} (${(((mr - md) / md) * 100).toFixed(0)}%)`,
      [`API create through the endpoint (median of ${N})`]: f(ce),
      [`API create on one engine directly (median of ${N})`]: f(cd),
      'API create overhead of placement': `${f(ce - cd)}`,
    }
  } finally {
    for (const e of engines) e.close()
    if (manage.exitCode === null && manage.signalCode === null) {
      const exited = new Promise(r => manage.once('exit', r))
      manage.kill('SIGTERM')
      await exited
    }
    berth(['rm', '-f', ...MACHINES])
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await benchManage()
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(64)} ${v}`)
}
