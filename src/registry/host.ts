/**
 * The registry on its host: Debian's docker-registry (the distribution registry) with a config,
 * a server certificate from the store CA and storage on the host's own disk, run as a systemd
 * unit or, on a host without an init system, under a supervising shell that berth restarts after
 * `berth start`. Every file of it is under one folder per port, so removal leaves nothing.
 */
import type {Duplex} from 'node:stream'
import {UserError} from '../core/index.js'
import {shellQuote, type SSHSession} from '../ssh/index.js'
import type {RegistryRecord} from './records.js'

export const BINARY = '/usr/bin/docker-registry'
const APT = 'DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600'

export const hostPaths = (port: number) => ({
  dir: `/etc/docker/berth-registry-${port}`,
  // Beside the engine's data: the host's Docker disk (a lab host's own folder, not the box's).
  data: `/var/lib/docker/berth-registry-${port}`,
  log: `/var/log/berth-registry-${port}.log`,
  pid: `/run/berth-registry-${port}.pid`,
  unit: `/etc/systemd/system/berth-registry-${port}.service`,
})

export function registryConfig(r: Pick<RegistryRecord, 'port' | 'mirror' | 'user'>): string {
  const p = hostPaths(r.port)
  const lines = [
    'version: 0.1',
    'log:', '  level: info', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${p.data}`, '  delete:', '    enabled: true',
    'http:', `  addr: :${r.port}`, '  tls:', `    certificate: ${p.dir}/server.pem`, `    key: ${p.dir}/server-key.pem`,
    '  headers:', '    X-Content-Type-Options: [nosniff]',
  ]
  if (r.user) lines.push('auth:', '  htpasswd:', '    realm: berth', `    path: ${p.dir}/htpasswd`)
  if (r.mirror) lines.push('proxy:', `  remoteurl: ${JSON.stringify(r.mirror)}`)
  return lines.join('\n') + '\n'
}

/** The registry's Go TLS client (a mirror's upstream) trusts the system roots and the store CA. */
const sslEnv = (port: number) => `SSL_CERT_DIR=/etc/ssl/certs:${hostPaths(port).dir}/ca`

function unit(port: number): string {
  const p = hostPaths(port)
  return `[Unit]\nDescription=berth store registry on port ${port}\nAfter=network-online.target\n\n[Service]\nEnvironment=${sslEnv(port)}\nExecStart=${BINARY} serve ${p.dir}/config.yml\nRestart=always\nRestartSec=1\n\n[Install]\nWantedBy=multi-user.target\n`
}

/** Start when not running: a shell that restarts the registry if it dies, in a session of its own. */
export function startScript(port: number): string {
  const p = hostPaths(port)
  return [
    `pid=$(cat ${p.pid} 2>/dev/null); if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then exit 0; fi`,
    `mkdir -p /var/log; setsid -f sh -c 'echo $$ > ${p.pid}; while :; do ${sslEnv(port)} ${BINARY} serve ${p.dir}/config.yml; sleep 1; done' </dev/null >>${p.log} 2>&1`,
  ].join('\n')
}

function stopScript(port: number): string {
  const p = hostPaths(port)
  return `pid=$(cat ${p.pid} 2>/dev/null); if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM -- "-$pid"; i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; fi; rm -f ${p.pid}`
}

/** Install docker-registry over the session when absent (apt, as the engine), without Debian's own service. */
export async function ensureBinary(s: SSHSession): Promise<void> {
  const sftp = await s.sftp()
  const present = await new Promise<boolean>(resolve => sftp.stat(BINARY, err => resolve(!err)))
  if (present) return
  await s.run(`${APT} update && ${APT} install -y docker-registry && if [ -d /run/systemd/system ]; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi`, {root: true, what: 'apt-get install docker-registry'})
}

export async function writeFiles(s: SSHSession, r: RegistryRecord, files: {caPem: string; certPem: string; keyPem: string; htpasswd?: string}): Promise<void> {
  const p = hostPaths(r.port)
  await s.run(`mkdir -p ${p.dir}/ca ${p.data} && chmod 700 ${p.dir}`, {root: true, what: 'registry folders'})
  await Promise.all([
    s.writeFile(`${p.dir}/config.yml`, registryConfig(r), 0o644),
    s.writeFile(`${p.dir}/ca/ca.pem`, files.caPem, 0o644),
    s.writeFile(`${p.dir}/server.pem`, files.certPem, 0o644),
    s.writeFile(`${p.dir}/server-key.pem`, files.keyPem, 0o600),
    ...(files.htpasswd ? [s.writeFile(`${p.dir}/htpasswd`, files.htpasswd, 0o600)] : []),
  ])
}

export async function startService(s: SSHSession, r: RegistryRecord): Promise<void> {
  if (r.service === 'systemd') {
    await s.writeFile(hostPaths(r.port).unit, unit(r.port), 0o644)
    await s.run(`systemctl daemon-reload && systemctl enable --now berth-registry-${r.port}`, {root: true, what: 'start the registry'})
    return
  }
  await s.run(startScript(r.port), {root: true, what: 'start the registry'})
}

/** Stop it and remove every file it had: config, certificate, key, storage, log, unit. */
export async function removeFromHost(s: SSHSession, r: Pick<RegistryRecord, 'port'>): Promise<void> {
  const p = hostPaths(r.port)
  const sd = `if [ -f ${p.unit} ]; then systemctl disable --now berth-registry-${r.port} >/dev/null 2>&1; rm -f ${p.unit}; systemctl daemon-reload; fi`
  await s.run(`${sd}; ${stopScript(r.port)}; rm -rf ${p.dir} ${p.data} ${p.log}`, {root: true, what: 'remove the registry'})
}

/** The last lines of the registry's own log, for a create that did not come up. */
export async function logTail(s: SSHSession, r: RegistryRecord): Promise<string> {
  const cmd = r.service === 'systemd' ? `journalctl -u berth-registry-${r.port} -n 20 --no-pager 2>/dev/null` : `tail -n 20 ${hostPaths(r.port).log} 2>/dev/null`
  const out = (await s.exec(cmd, {root: true})).stdout
  const lines = out.split('\n').map(l => l.trim()).filter(Boolean)
  const fatal = lines.reverse().find(l => /fatal|error|listen|bind|permission/i.test(l))
  return (fatal ?? lines[0] ?? '').replace(/^.*?msg="?/, '').replace(/"?\s*(go\.version|instance\.id|service|version)=.*$/, '').slice(0, 200)
}

/** bcrypt by the host's own crypt(3) (libxcrypt): the password goes over stdin, never into argv. */
export async function bcryptOnHost(s: SSHSession, password: string): Promise<string> {
  const {randomBytes} = await import('node:crypto')
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  const salt = [...randomBytes(22)].map(b => alphabet[b % 64]).join('').replace(/.$/, 'e')
  const r = await s.exec(`perl -e ${shellQuote('local $/; my $p = <STDIN>; print crypt($p, $ARGV[0])')} ${shellQuote(`$2b$10$${salt}`)}`, {stdin: password})
  const hash = r.stdout.trim()
  if (r.code !== 0 || !/^\$2b\$10\$.{53}$/.test(hash)) throw new UserError('the registry host cannot make a bcrypt hash (perl with crypt(3) bcrypt support is needed for --auth)')
  return hash
}

/**
 * GET /v2/ through the SSH connection (a forwarded port to the host's loopback), checking the
 * certificate against the store CA and the address members use: what a member's engine sees.
 */
export async function probe(s: SSHSession, r: RegistryRecord, caPem: string, timeoutMs = 3000): Promise<number> {
  const tls = await import('node:tls')
  const host = r.address.replace(/:\d+$/, '')
  const stream = await new Promise<Duplex>((resolve, reject) => s.client.forwardOut('127.0.0.1', 0, '127.0.0.1', r.port, (err, ch) => (err ? reject(err) : resolve(ch))))
  return new Promise((resolve, reject) => {
    const sock = tls.connect({socket: stream, ca: caPem, servername: undefined, checkServerIdentity: (_h, cert) => tls.checkServerIdentity(host, cert)})
    const timer = setTimeout(() => sock.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs)
    let head = ''
    sock.on('secureConnect', () => sock.write(`GET /v2/ HTTP/1.0\r\nHost: ${r.address}\r\n\r\n`))
    sock.on('data', d => {
      head += d
      const m = /^HTTP\/1\.\d (\d{3})/.exec(head)
      if (m) {
        clearTimeout(timer)
        sock.destroy()
        resolve(Number(m[1]))
      }
    })
    sock.on('error', err => {
      clearTimeout(timer)
      reject(err)
    })
    sock.on('close', () => {
      clearTimeout(timer)
      reject(new Error('connection closed'))
    })
  })
}
