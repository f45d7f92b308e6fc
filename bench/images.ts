/**
 * `berth image push` of a ~50 MB image to 10 machines (default bound of 4 at once, and all 10 at
 * once): wall time against pushing it to 1, and against the 10 pulling it from a store registry
 * (docker pull on each at once), in one run.
 */
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {tmp} from './tmp.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const NAMES = Array.from({length: 10}, (_, i) => `i${i}`)

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6
}

export async function benchImages(): Promise<Record<string, number | string>> {
  const env = {...process.env, BERTH_STORAGE_PATH: tmp('imstore'), BERTH_LAB_DIR: tmp('imlab'), BERTH_LAB_SUBNET: '172.30.147.0/24'}
  const berth = (args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args], {env, stdio: ['ignore', 'pipe', 'pipe']})
    if (r.status !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`)
    return r.stdout.toString()
  }
  const denv = (n: string) => ({...process.env, ...JSON.parse(berth(['env', n, '--json'])) as Record<string, string>})
  const docker = (n: string, args: string[], input?: Buffer) => execFileSync('docker', args, {env: {...denv(n), DOCKER_BUILDKIT: '0'}, input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 26}).toString()
  try {
    berth(['create', '--parallel', '10', '--swarm', 'ib', ...NAMES])
    const ctx = tmp('imctx')
    mkdirSync(path.join(ctx, 'root', 'bin'), {recursive: true})
    execFileSync('cp', ['/bin/busybox', path.join(ctx, 'root', 'bin', 'busybox')])
    symlinkSync('busybox', path.join(ctx, 'root', 'bin', 'sh'))
    docker('i0', ['import', '-', 'bb:base'], execFileSync('tar', ['-C', path.join(ctx, 'root'), '-c', '.'], {maxBuffer: 1 << 26}))
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM bb:base\nRUN busybox dd if=/dev/urandom of=/blob bs=1048576 count=50\n')
    docker('i0', ['build', '-q', '-t', 'fat:1', ctx])
    const file = path.join(tmp('imtar'), 'fat.tar')
    docker('i0', ['save', '-o', file, 'fat:1'])
    docker('i0', ['rmi', 'fat:1'])
    let t0 = process.hrtime.bigint()
    berth(['image', 'push', '--file', file, 'i0'])
    const t1 = ms(t0)
    docker('i0', ['rmi', 'fat:1'])
    t0 = process.hrtime.bigint()
    berth(['image', 'push', '--file', file, '--swarm', 'ib'])
    const t10 = ms(t0)
    for (const n of NAMES) docker(n, ['rmi', 'fat:1'])
    t0 = process.hrtime.bigint()
    berth(['image', 'push', '--file', file, '--swarm', 'ib', '--parallel', '10'])
    const t10all = ms(t0)
    const reg = berth(['registry', 'create', '--swarm', 'ib', '--on', 'i0']).trim()
    docker('i0', ['tag', 'fat:1', `${reg}/fat:1`])
    docker('i0', ['push', `${reg}/fat:1`])
    for (const n of NAMES) docker(n, ['rmi', 'fat:1', ...(n === 'i0' ? [`${reg}/fat:1`] : [])])
    const envs = NAMES.map(n => denv(n))
    t0 = process.hrtime.bigint()
    await Promise.all(envs.map(e => new Promise<void>((resolve, reject) => {
      const p = spawn('docker', ['pull', '-q', `${reg}/fat:1`], {env: e, stdio: 'ignore'})
      p.on('exit', code => (code === 0 ? resolve() : reject(new Error(`docker pull exited ${code}`))))
    })))
    const tPull = ms(t0)
    const s = (x: number) => `${(x / 1000).toFixed(2)} s`
    return {
      'image push of 50 MB to 10 machines vs to 1': `${s(t10)} vs ${s(t1)} = ${(t10 / t1).toFixed(2)}x`,
      'image push to 10 vs docker pull from a store registry on 10': `${s(t10)} vs ${s(tPull)} = ${(t10 / tPull).toFixed(2)}x`,
      'image push to 10 all at once (--parallel 10) vs docker pull on 10': `${s(t10all)} vs ${s(tPull)} = ${(t10all / tPull).toFixed(2)}x`,
    }
  } finally {
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'run.js'), 'rm', '-f', '-y', ...NAMES], {env, stdio: 'ignore'})
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchImages())
