/**
 * `npm run bench`: every number is measured in this one run, each beside its baseline, and
 * printed as a ratio with its goal. Needs root (lab hosts), like the e2e tests.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {tmp} from './tmp.js'
import {cpuPerHost, swarmScale} from './scale.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = path.join(ROOT, 'bin', 'run.js')

export interface Row {
  what: string
  value: string
  goal?: string
  ok?: boolean
}

const rows: Row[] = []
export function report(row: Row): void {
  rows.push(row)
  const mark = row.ok === undefined ? '' : row.ok ? '  ok' : '  MISSED'
  console.log(`${row.what.padEnd(64)} ${row.value.padEnd(28)} ${row.goal ? `goal ${row.goal}` : ''}${mark}`)
}

function timeIt(fn: () => void): number {
  const t0 = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t0) / 1e6
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function berth(args: string[], env: Record<string, string>): void {
  const r = spawnSync(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'pipe']})
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')} failed: ${r.stderr}`)
}

function labEnv(subnet: string): Record<string, string> {
  return {BERTH_STORAGE_PATH: tmp('store'), BERTH_LAB_DIR: tmp('lab'), BERTH_LAB_SUBNET: subnet}
}

function createVsHandmade(): void {
  const names = ['b1', 'b2', 'b3']
  const env = labEnv('172.30.87.0/24')
  const tBerth = timeIt(() => berth(['create', ...names], env))
  berth(['rm', '-f', ...names], env)
  const work = path.join(tmp('hand'), 'w')
  const script = path.join(ROOT, 'bench', 'handmade.sh')
  let tHand = 0
  try {
    tHand = timeIt(() => execFileSync('bash', [script, 'up', '3', '172.30.86', work], {stdio: ['ignore', 'ignore', 'inherit']}))
  } finally {
    execFileSync('bash', [script, 'down', '3', '172.30.86', work])
  }
  const ratio = tBerth / tHand
  report({what: '3 lab hosts: berth create vs hand-written script', value: `${(tBerth / 1000).toFixed(2)} s vs ${(tHand / 1000).toFixed(2)} s = ${ratio.toFixed(2)}x`, goal: '<= 1.5x', ok: ratio <= 1.5})
}

async function handshakes(): Promise<void> {
  // In-process, so the SSH module's own counter is read: every handshake, retries included.
  const {Store} = await import('../src/store/index.js')
  const {createMachine, removeMachine} = await import('../src/machine/index.js')
  const {sshStats} = await import('../src/ssh/index.js')
  const {EngineOptions} = await (await import('../src/store/index.js')).recordSchemas()
  const env = labEnv('172.30.89.0/24')
  const {drivers} = await import('../drivers/index.js')
  const ctx = {store: new Store(env.BERTH_STORAGE_PATH), drivers}
  const names = ['h1', 'h2', 'h3']
  const before = sshStats.handshakes
  await Promise.all(names.map(n => createMachine(ctx, n, {driver: 'lab', driverOptions: {'lab-subnet': env.BERTH_LAB_SUBNET, 'lab-dir': env.BERTH_LAB_DIR}, engine: EngineOptions.parse({})})))
  const per = (sshStats.handshakes - before) / names.length
  for (const n of names) await removeMachine(ctx, n, {force: true})
  report({what: 'SSH handshakes per created host (docker-machine: >= 19)', value: per.toFixed(2), goal: '1', ok: per === 1})
}

function coldStart(): void {
  const store = tmp('cold')
  const machines = path.join(store, 'machines')
  for (let i = 0; i < 200; i++) {
    const dir = path.join(machines, `m${i}`)
    mkdirSync(dir, {recursive: true})
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
      schemaVersion: 1, name: `m${i}`, id: (0x100000000000 + i).toString(16), driver: 'lab', createdAt: new Date().toISOString(), status: 'ready',
      driverData: {id: 'x', ip: `172.30.99.${i % 250}`, dir: `/nonexistent/m${i}`, initPid: 0, initStart: 0}, ssh: {}, engine: {},
    }))
  }
  const runs = (args: string[]) => median(Array.from({length: 7}, () => timeIt(() => {
    const r = spawnSync(process.execPath, args, {env: {...process.env, BERTH_STORAGE_PATH: store}, stdio: 'ignore'})
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`)
  })))
  const node = runs(['-e', '0'])
  const help = runs([BIN, '--help'])
  const ls = runs([BIN, 'ls'])
  report({what: 'cold start: berth --help vs node -e 0', value: `${help.toFixed(0)} ms vs ${node.toFixed(0)} ms = ${(help / node).toFixed(2)}x`, goal: '<= 3x', ok: help / node <= 3})
  report({what: 'cold start: berth ls (200 records) vs node -e 0', value: `${ls.toFixed(0)} ms vs ${node.toFixed(0)} ms = ${(ls / node).toFixed(2)}x`, goal: '<= 3x', ok: ls / node <= 3})
}

async function optional(file: string, fn: string): Promise<void> {
  if (!existsSync(path.join(ROOT, 'dist', 'bench', file))) return
  const mod = await import(`./${file}`)
  const out = await mod[fn]() as Record<string, number | string>
  for (const [k, v] of Object.entries(out ?? {})) report({what: `${file.replace('.js', '')}: ${k}`, value: String(v)})
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('npm run bench needs root (lab hosts)')
  const only = process.argv.slice(2)
  const want = (k: string) => only.length === 0 || only.includes(k)
  console.log(`berth benchmarks (${os.cpus().length} cores, node ${process.version})`)
  if (want('cold')) coldStart()
  if (want('create')) createVsHandmade()
  // What berth controls: its own CPU per host (the 12-vs-1 wall ratio measured dockerd's start-up).
  if (want('cpu') || want('scale')) report(cpuPerHost())
  if (want('scale')) for (const row of swarmScale()) report(row)
  if (want('ssh')) await handshakes()
  for (const [key, file, fn] of [['swarm', 'swarm.js', 'benchSwarm'], ['placement', 'placement.js', 'benchPlacement'], ['manage', 'manage.js', 'benchManage'], ['qemu', 'qemu.js', 'benchQemu'], ['openstack', 'openstack.js', 'benchOpenstack'], ['azure', 'azure.js', 'benchAzure'], ['images', 'images.js', 'benchImages'], ['install', 'install.js', 'benchInstall'], ['wan', 'wan.js', 'benchWan'], ['mesh', 'mesh.js', 'benchMesh'], ['hybrid', 'hybrid.js', 'benchHybrid']]) {
    if (want(key)) await optional(file, fn)
  }
  const missed = rows.filter(r => r.ok === false)
  console.log(missed.length ? `${missed.length} goal(s) missed` : 'all goals met')
}

await main()
