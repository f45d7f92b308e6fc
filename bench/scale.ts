/**
 * What berth itself costs and how it scales on lab hosts: its own CPU per created host (what it
 * controls; dockerd's start-up CPU is not its), one create of a 50-host swarm, and the rm of that
 * swarm against its create. CPU is the berth process's user+sys together with the short commands
 * it waits for (ip, sh), read from this process's reaped-children times around the one spawn.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {tmp} from './tmp.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = path.join(ROOT, 'bin', 'run.js')
const SUBNET = '172.30.124.0/24'

export interface ScaleRow {
  what: string
  value: string
  goal?: string
  ok?: boolean
}

const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

/** CPU seconds of this process's reaped children (utime + stime of the ones waited for). */
function childrenCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 16 and 17 of proc(5) (cutime, cstime); f[0] is field 3.
  return (Number(f[13]) + Number(f[14])) / TICK
}

interface Run {
  wall: number
  cpu: number
  code: number
  stderr: string
}

function berth(args: string[], env: Record<string, string>): Run {
  const cpu0 = childrenCpu()
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20})
  return {wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: childrenCpu() - cpu0, code: r.status ?? 1, stderr: r.stderr.toString()}
}

const names = (prefix: string, n: number) => Array.from({length: n}, (_, i) => `${prefix}${String(i + 1).padStart(2, '0')}`)
const labEnv = () => ({BERTH_STORAGE_PATH: tmp('scstore'), BERTH_LAB_DIR: tmp('sclab'), BERTH_LAB_SUBNET: SUBNET})
const failures = (r: Run) => r.stderr.split('\n').filter(l => l.startsWith('berth: ')).slice(0, 3).join('; ')

/** berth's own CPU per created host: one create of 12 lab hosts (no swarm). */
export function cpuPerHost(): ScaleRow {
  const env = labEnv()
  const hosts = names('c', 12)
  const r = berth(['create', ...hosts], env)
  berth(['rm', '-f', '-y', ...hosts], env)
  if (r.code !== 0) throw new Error(`create of 12 lab hosts failed: ${failures(r)}`)
  const per = r.cpu / hosts.length
  return {what: 'berth CPU per created host (lab, 12 in one create)', value: `${per.toFixed(3)} s (${r.cpu.toFixed(2)} s in ${r.wall.toFixed(1)} s)`, goal: '<= 0.1 s', ok: per <= 0.1}
}

/** One create of an N-host swarm with the default --parallel, then one rm of all of it. */
export function swarmScale(n = Number(process.env.BERTH_BENCH_SCALE_HOSTS ?? 50)): ScaleRow[] {
  const env = labEnv()
  const hosts = names('s', n)
  const c = berth(['create', '--swarm', 'big', ...hosts], env)
  const made = JSON.parse(spawnSync(process.execPath, [BIN, 'ls', '--json'], {env: {...process.env, ...env}}).stdout.toString() || '[]').length
  const rm = berth(['rm', '-f', '-y', ...hosts], env)
  const per = c.cpu / n
  const ratio = rm.wall / c.wall
  return [
    {what: `${n} lab hosts in one create --swarm (default --parallel)`, value: `${made}/${n} in ${c.wall.toFixed(1)} s${c.code ? `: ${failures(c)}` : ''}`, goal: `${n} of ${n}`, ok: c.code === 0 && made === n},
    {what: `berth CPU per created host (lab, ${n}-host swarm)`, value: `${per.toFixed(3)} s (${c.cpu.toFixed(2)} s)`, goal: '<= 0.1 s', ok: per <= 0.1},
    {what: `rm of a swarm of ${n} vs its create`, value: `${rm.wall.toFixed(1)} s vs ${c.wall.toFixed(1)} s = ${ratio.toFixed(2)}x${rm.code ? ' (rm failed)' : ''}`, goal: '<= 0.5x', ok: rm.code === 0 && ratio <= 0.5},
  ]
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(cpuPerHost())
  if (process.argv[2] !== 'cpu') console.log(swarmScale())
}
