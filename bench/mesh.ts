/**
 * `npm run bench -- mesh`: what the WireGuard mesh costs. Two 2-host swarms on one flat lab
 * network, one formed over `--swarm-mesh wireguard`, one direct; iperf3 (the box's, in a
 * container image made from it) through an attachable overlay on each, and host to host over
 * the tunnel and over the underlay, all in this one run, one measurement at a time.
 */
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {copyFileSync, mkdirSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {tmp} from './tmp.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const SECONDS = 4

/** iperf3 and the libraries it links, as a container image tar (there is no registry here). */
function iperfImage(): Buffer {
  const dir = tmp('iperfimg')
  const files = ['/usr/bin/iperf3', ...execFileSync('ldd', ['/usr/bin/iperf3']).toString().split('\n').flatMap(l => /(\/\S+) \(0x/.exec(l)?.[1] ?? [])]
  for (const f of files) {
    mkdirSync(path.join(dir, path.dirname(f)), {recursive: true})
    copyFileSync(f, path.join(dir, f))
  }
  mkdirSync(path.join(dir, 'tmp'), {mode: 0o1777})
  return execFileSync('tar', ['-C', dir, '-c', '.'], {maxBuffer: 64 << 20})
}

const mbits = (json: string) => (JSON.parse(json) as {end: {sum_received: {bits_per_second: number}}}).end.sum_received.bits_per_second / 1e6

export async function benchMesh(): Promise<Record<string, string>> {
  const env = {...process.env, BERTH_STORAGE_PATH: tmp('meshstore'), BERTH_LAB_DIR: tmp('meshlab'), BERTH_LAB_SUBNET: '172.30.195.0/24'}
  const berth = (args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args], {env, stdio: ['ignore', 'pipe', 'pipe']})
    if (r.status !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`)
    return r.stdout.toString().trim()
  }
  const denv = (host: string) => ({...process.env, ...JSON.parse(berth(['env', host, '--json'])) as Record<string, string>})
  const docker = (host: string, args: string[], input?: Buffer) => execFileSync('docker', args, {env: denv(host), input, maxBuffer: 64 << 20}).toString().trim()
  const hosts = ['ma', 'mb', 'da', 'db']
  try {
    const made = await Promise.all([
      ['create', '--swarm', 'bmesh', '--swarm-mesh', 'wireguard', '--swarm-mesh-subnet', '10.210.0.0/24', 'ma', 'mb'],
      ['create', '--swarm', 'bdirect', 'da', 'db'],
    ].map(args => new Promise<number | null>(resolve => spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args], {env, stdio: 'ignore'}).on('close', resolve))))
    if (made.some(c => c !== 0)) throw new Error('could not create the bench swarms')
    const image = iperfImage()
    for (const h of hosts) docker(h, ['import', '-', 'iperf:bench'], image)
    const overlay = (server: string, client: string, mtu?: number) => {
      docker(server, ['network', 'create', '-d', 'overlay', '--attachable', ...(mtu ? ['-o', `com.docker.network.driver.mtu=${mtu}`] : []), 'bnet'])
      docker(server, ['run', '-d', '--name', 'ips', '--network', 'bnet', 'iperf:bench', '/usr/bin/iperf3', '-s', '-1'])
      return mbits(docker(client, ['run', '--rm', '--network', 'bnet', 'iperf:bench', '/usr/bin/iperf3', '-c', 'ips', '-t', String(SECONDS), '-J']))
    }
    const hostToHost = (server: string, client: string, address: string) => {
      berth(['ssh', server, 'iperf3 -s -1 -D -p 5299'])
      return mbits(berth(['ssh', client, `sleep 0.5; iperf3 -c ${address} -p 5299 -t ${SECONDS} -J`]))
    }
    const meshAddr = (JSON.parse(berth(['inspect', 'ma'])) as {mesh: {address: string}}).mesh.address
    const oMesh = overlay('ma', 'mb', 1370)
    const oDirect = overlay('da', 'db')
    const hMesh = hostToHost('ma', 'mb', meshAddr)
    const hDirect = hostToHost('ma', 'mb', berth(['ip', 'ma']))
    const f = (x: number) => `${x.toFixed(0)} Mbit/s`
    return {
      'overlay throughput, over the WireGuard mesh vs direct (iperf3 in containers)': `${f(oMesh)} vs ${f(oDirect)} = ${(oMesh / oDirect).toFixed(2)}x`,
      'host to host, through the WireGuard tunnel vs the underlay (iperf3)': `${f(hMesh)} vs ${f(hDirect)} = ${(hMesh / hDirect).toFixed(2)}x`,
    }
  } finally {
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), 'rm', '-f', '-y', ...hosts], {env, stdio: 'ignore'})
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchMesh())
