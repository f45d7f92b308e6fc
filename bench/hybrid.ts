/**
 * `npm run bench -- hybrid`: seed 004's 5-member hybrid swarm (a lab head, two Azure-simulator
 * VMs behind their router, two ConoHa-simulator servers), formed twice in this one run against
 * the same two simulators, firewalls enforced: (a) directly, the head on the "internet" bridge
 * beside the clouds' public addresses (a NAT'd head is refused without a mesh, so this is the
 * honest baseline), (b) over `--swarm-mesh wireguard` with the head behind a home NAT. Timed from
 * the head's create to all five nodes Ready, workers of both clouds created side by side.
 */
import {spawn} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {tmp} from './tmp.js'
import {sleep} from '../src/core/index.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = path.join(ROOT, 'bin', 'run.js')
const INTERNET = '172.30.238.0/24'
const VNET = '172.30.239.0/24'
const HOME = '172.30.240.0/24'

/** The sims answer in this process: every command runs beside them, never blocking them. */
function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise(resolve => {
    const child = spawn(cmd, args, {env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => (stdout += d))
    child.stderr.on('data', d => (stderr += d))
    child.on('close', code => resolve({code, stdout, stderr}))
  })
}

export async function benchHybrid(): Promise<Record<string, string>> {
  const [{startAzureSim}, {OpenStackSim}] = await Promise.all([import('../test/sim/azure.js'), import('../test/sim/openstack.js')])
  const [az, os] = await Promise.all([
    startAzureSim({labRoot: tmp('hyaz'), topology: {internet: INTERNET, subnet: VNET}, retryAfter: 0}),
    OpenStackSim.start({boot: 'lab', subnet: INTERNET, topology: {internet: INTERNET}, profile: 'conoha-v2', labRoot: tmp('hyos')}),
  ])
  const env = {
    ...process.env, ...az.env(), AZURE_LOCATION: 'japaneast', AZURE_SUBNET_PREFIX: VNET,
    OS_AUTH_URL: os.authUrl('2.0'), OS_USERNAME: 'demo', OS_PASSWORD: 'secretsecret', OS_TENANT_NAME: 'demo', OS_CLOUD: '',
    BERTH_STORAGE_PATH: tmp('hystore'), BERTH_LAB_DIR: tmp('hylab'), BERTH_LAB_PUBLIC_SUBNET: INTERNET, BERTH_LAB_SUBNET: '',
  }
  const berth = async (args: string[]) => {
    const r = await exec(process.execPath, [BIN, ...args], env)
    if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr.trim().split('\n').filter(l => l.startsWith('berth:')).join(' | ') || r.stderr.slice(-500)}`)
    return r.stdout.trim()
  }
  const conoha = ['-d', 'conoha', '--conoha-region', 'tyo1', '--conoha-flavor-name', 'g-1gb', '--conoha-image-name', 'vmi-ubuntu-14.04-amd64', '--conoha-sec-groups', 'default,gncs-ipv4-all']
  const made: string[] = []
  const form = async (tag: string, head: string[]) => {
    const names = [`${tag}h`, `${tag}a1`, `${tag}a2`, `${tag}c1`, `${tag}c2`]
    made.push(...names)
    const t0 = process.hrtime.bigint()
    await berth(['create', '--swarm', tag, ...head, names[0]])
    await Promise.all([
      berth(['create', '-d', 'azure', '--azure-location', 'japaneast', '--swarm', tag, names[1], names[2]]),
      berth(['create', ...conoha, '--swarm', tag, names[3], names[4]]),
    ])
    const denv = {...process.env, ...JSON.parse(await berth(['env', names[0], '--json'])) as Record<string, string>}
    for (const end = Date.now() + 600_000; ; await sleep(200)) {
      const r = await exec('docker', ['node', 'ls', '--format', '{{.Status}}'], denv)
      if (r.code === 0 && r.stdout.trim().split('\n').filter(s => s === 'Ready').length === names.length) break
      if (Date.now() > end) throw new Error(`swarm ${tag}: not all ${names.length} nodes Ready after 10 minutes: ${r.stdout.trim()}`)
    }
    return Number(process.hrtime.bigint() - t0) / 1e9
  }
  try {
    const direct = await form('hyd', ['--lab-subnet', INTERNET])
    const mesh = await form('hym', ['--swarm-mesh', 'wireguard', '--swarm-mesh-subnet', '10.211.0.0/24', '--lab-network', 'benchhome', '--lab-behind-nat', '--lab-subnet', HOME])
    return {
      'hybrid swarm of 5 formed: direct vs NAT\'d head over mesh': `${direct.toFixed(1)} s vs ${mesh.toFixed(1)} s = ${(mesh / direct).toFixed(2)}x`,
    }
  } finally {
    await exec(process.execPath, [BIN, 'rm', '-f', '-y', ...made], env)
    await Promise.all([az.close(), os.close()])
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchHybrid())
