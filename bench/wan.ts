/**
 * Swarm formation across an emulated WAN (drivers/lab/wan.ts): one manager and two workers on one
 * flat network vs the manager in a data centre and the workers in a cloud 75 ms away each way with
 * 0.5 % loss each way (150 ms round trip, ~1 % of round trips lost), formed with the same two
 * commands in the same run. The WAN's measured ping is reported beside it.
 */
import {spawnSync} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {tmp} from './tmp.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export async function benchWan(): Promise<Record<string, number | string>> {
  const env = {...process.env, BERTH_STORAGE_PATH: tmp('wanstore'), BERTH_LAB_DIR: tmp('wanlab'), BERTH_LAB_PUBLIC_SUBNET: '172.30.230.0/24', BERTH_LAB_SUBNET: ''}
  const berth = (args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args], {env, stdio: ['ignore', 'pipe', 'pipe']})
    if (r.status !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`)
    return r.stdout.toString()
  }
  const form = (swarm: string, [manager, ...workers]: string[]) => {
    const t0 = process.hrtime.bigint()
    berth(['swarm', 'init', manager, '--name', swarm])
    berth(['swarm', 'join', swarm, ...workers])
    return Number(process.hrtime.bigint() - t0) / 1e9
  }
  const names = ['wf1', 'wf2', 'wf3', 'wm', 'ww1', 'ww2']
  try {
    berth(['create', '--lab-subnet', '172.30.229.0/24', 'wf1', 'wf2', 'wf3'])
    berth(['create', '--lab-network', 'benchdc', '--lab-wan-delay', '0ms', '--lab-subnet', '172.30.231.0/24', 'wm'])
    berth(['create', '--lab-network', 'benchcloud', '--lab-wan-delay', '75ms', '--lab-wan-loss', '0.5%', '--lab-subnet', '172.30.232.0/24', 'ww1', 'ww2'])
    const ping = berth(['ssh', 'ww1', `busybox ping -q -c 1000 -i 0.01 ${berth(['ip', 'wm']).trim()}`])
    const sent = Number(/(\d+) packets transmitted/.exec(ping)?.[1])
    const lost = 1 - Number(/(\d+) packets received/.exec(ping)?.[1]) / sent
    const rtt = /min\/avg\/max = ([\d.]+)\/([\d.]+)\//.exec(ping)
    const flat = form('benchflat', ['wf1', 'wf2', 'wf3'])
    const wan = form('benchwan', ['wm', 'ww1', 'ww2'])
    return {
      'WAN of 75 ms + 0.5 % each way: ping min/avg, round trips lost': `${rtt?.[1]}/${rtt?.[2]} ms, ${(lost * 100).toFixed(2)} % of ${sent}`,
      '3-member swarm formation: flat vs across 150 ms RTT / 1 % loss': `${flat.toFixed(2)} s vs ${wan.toFixed(2)} s = ${(wan / flat).toFixed(2)}x`,
    }
  } finally {
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), 'rm', '-f', '-y', ...names], {env, stdio: 'ignore'})
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchWan())
