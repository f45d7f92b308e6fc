/**
 * A real distribution registry (Debian's `docker-registry`) for e2e tests, run in one lab host's
 * network namespace with a TLS certificate from a test CA, and trusted by machines through
 * /etc/docker/certs.d/HOST:PORT/ca.crt written over `berth ssh`. (`berth registry create` will
 * take this over; until then tests start one themselves.)
 */
import {spawn, execFileSync, type ChildProcess} from 'node:child_process'
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import {berth, sleep, tmpDir} from './helpers.js'

export interface TestRegistry {
  /** `IP:PORT`, the prefix of the images it holds. */
  addr: string
  caPem: string
  stop(): Promise<void>
  start(): Promise<void>
  /** Writes the CA where each machine's engine looks for this registry's. */
  trust(machines: string[], env: Record<string, string>): Promise<void>
}

function ping(ip: string, port: number, ca: string): Promise<number> {
  return new Promise(resolve => {
    const req = https.get({host: ip, port, path: '/v2/', ca, timeout: 2000}, res => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
  })
}

export async function startRegistry(machine: string, env: Record<string, string>, port = 5000): Promise<TestRegistry> {
  const record = JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'machines', machine, 'config.json'), 'utf8')) as {driverData: {ip: string; netns: string}}
  const {ip, netns} = record.driverData
  const dir = tmpDir('registry')
  const f = (n: string) => path.join(dir, n)
  const ssl = (args: string[]) => execFileSync('openssl', args, {stdio: ['ignore', 'pipe', 'pipe']})
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=berth test registry CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${ip}`])
  writeFileSync(f('ext.cnf'), `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\n`)
  ssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('ext.cnf')])
  writeFileSync(f('config.yml'), [
    'version: 0.1',
    'log: {level: warn}',
    `storage: {filesystem: {rootdirectory: ${f('data')}}, delete: {enabled: true}}`,
    `http: {addr: "${ip}:${port}", tls: {certificate: ${f('server.crt')}, key: ${f('server.key')}}}`,
    '',
  ].join('\n'))
  const caPem = readFileSync(f('ca.crt'), 'utf8')
  let proc: ChildProcess | undefined
  let log = ''
  const reg: TestRegistry = {
    addr: `${ip}:${port}`,
    caPem,
    async start() {
      // nsenter execs the registry itself: the PID we hold is the registry's, to stop it by.
      proc = spawn('nsenter', [`--net=/run/netns/${netns}`, 'docker-registry', 'serve', f('config.yml')], {stdio: ['ignore', 'ignore', 'pipe']})
      proc.stderr!.on('data', d => (log += d))
      const end = Date.now() + 15_000
      while (Date.now() < end) {
        if (await ping(ip, port, caPem) === 200) return
        if (proc.exitCode !== null) break
        await sleep(100)
      }
      await reg.stop()
      throw new Error(`docker-registry did not start: ${log}`)
    },
    async stop() {
      const p = proc
      proc = undefined
      if (!p || p.exitCode !== null) return
      const gone = new Promise(resolve => p.once('exit', resolve))
      p.kill('SIGTERM')
      await gone
    },
    async trust(machines, e) {
      for (const m of machines) {
        const r = await berth(['ssh', m, '--', 'sh', '-c', `mkdir -p /etc/docker/certs.d/${ip}:${port} && cat > /etc/docker/certs.d/${ip}:${port}/ca.crt`], {env: e, input: caPem})
        if (r.code !== 0) throw new Error(`trusting the registry on ${m}: ${r.stderr}`)
      }
    },
  }
  await reg.start()
  process.once('exit', () => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL')
    rmSync(dir, {recursive: true, force: true})
  })
  return reg
}
