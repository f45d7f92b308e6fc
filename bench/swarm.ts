/** A 3-node swarm from nothing: berth (one create call) vs the hand-written script doing the same steps. */
import {execFileSync, spawnSync} from 'node:child_process'
import path from 'node:path'
import {tmp} from './tmp.js'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

function ms(fn: () => void): number {
  const t0 = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t0) / 1e6
}

export async function benchSwarm(): Promise<Record<string, number | string>> {
  const env = {...process.env, BERTH_STORAGE_PATH: tmp('swstore'), BERTH_LAB_DIR: tmp('swlab'), BERTH_LAB_SUBNET: '172.30.96.0/24'}
  const names = ['s1', 's2', 's3']
  const berth = (args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args], {env, stdio: ['ignore', 'ignore', 'pipe']})
    if (r.status !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`)
  }
  const tBerth = ms(() => berth(['create', '--swarm', 'bench', ...names]))
  berth(['rm', '-f', ...names])
  const script = path.join(ROOT, 'bench', 'handmade.sh')
  const work = path.join(tmp('swhand'), 'w')
  let tHand = 0
  try {
    tHand = ms(() => execFileSync('bash', [script, 'swarm', '3', '172.30.97', work], {stdio: ['ignore', 'ignore', 'inherit']}))
  } finally {
    execFileSync('bash', [script, 'down', '3', '172.30.97', work])
  }
  const ratio = tBerth / tHand
  return {
    '3-node swarm from nothing: berth vs hand-written script': `${(tBerth / 1000).toFixed(2)} s vs ${(tHand / 1000).toFixed(2)} s = ${ratio.toFixed(2)}x (goal <= 1.5x) ${ratio <= 1.5 ? 'ok' : 'MISSED'}`,
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchSwarm())
