import {isIP} from 'node:net'
import {UserError} from '../core/index.js'
import {issue, type KeyPairPem} from '../certs/index.js'
import type {EngineOptions} from '../store/index.js'
import {shellQuote, type SSHSession} from '../ssh/index.js'
import {type InstallContext, LOCK_TIMEOUT_SEC, osProvisioner, type OSProvisioner, reportLockWhile, type UpgradeResult} from './os.js'

/** What one round trip tells us about a host before we touch it. */
export interface HostFacts {
  os: Record<string, string>
  hostname: string
  addresses: string[]
  dockerd?: string
  init: 'systemd' | 'none'
}

function parseOsRelease(text: string): Record<string, string> {
  const os: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim())
    if (m) os[m[1]] = m[2].replace(/^"(.*)"$/, '$1')
  }
  return os
}

function supported(os: Record<string, string>): boolean {
  try {
    osProvisioner(os)
    return true
  } catch {
    return false
  }
}

/** SFTP stat: true when the path exists (no remote process is started for it). */
async function remoteExists(s: SSHSession, p: string): Promise<boolean> {
  const sftp = await s.sftp()
  return new Promise(resolve => sftp.stat(p, err => resolve(!err)))
}

/**
 * What berth needs to know about a host, for the cost of one small remote command: files are
 * read and probed over SFTP, which starts no process (on a busy host with many machines being
 * provisioned at once, every forked process counts). Also makes /etc/docker.
 */
export async function gatherFacts(s: SSHSession): Promise<HostFacts> {
  const osText = s.readFile('/etc/os-release').then(b => b.toString(), () => '')
  const [out, osRelease, sbin, bin, local, systemd] = await Promise.all([
    // Nothing is written to a host whose OS berth cannot provision (it is refused by name next).
    osText.then(t => s.run(`${supported(parseOsRelease(t)) ? `mkdir -p ${REMOTE_DIR} && ` : ''}hostname && (hostname -I 2>/dev/null || true)`, {root: true, what: 'inspect host'})),
    osText,
    remoteExists(s, '/usr/sbin/dockerd'),
    remoteExists(s, '/usr/bin/dockerd'),
    remoteExists(s, '/usr/local/bin/dockerd'),
    remoteExists(s, '/run/systemd/system'),
  ])
  const [hostname = '', addrs = ''] = out.split('\n')
  return {
    os: parseOsRelease(osRelease),
    hostname: hostname.trim(),
    addresses: addrs.trim().split(/\s+/).filter(a => isIP(a) && !a.startsWith('fe80')),
    dockerd: sbin ? '/usr/sbin/dockerd' : bin ? '/usr/bin/dockerd' : local ? '/usr/local/bin/dockerd' : undefined,
    init: systemd ? 'systemd' : 'none',
  }
}

export interface ProvisionInput {
  machineName: string
  driverName: string
  ip: string
  /** Extra addresses from the driver (public and private). */
  addresses: string[]
  engine: EngineOptions
  engineDefaults?: Record<string, unknown>
  driverLabels?: Record<string, string>
  ca: KeyPairPem
  step?: (msg: string) => void
}

export interface ProvisionResult {
  sans: string[]
  facts: HostFacts
}

export const REMOTE_DIR = '/etc/docker'

/** Parse `--engine-opt key=value` into daemon.json: JSON values as such, repeated keys as arrays. */
export function engineOptsToConfig(opts: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const opt of opts) {
    const m = /^--?([^=]+)(?:=(.*))?$/.exec(opt.startsWith('-') ? opt : `--${opt}`)
    if (!m) throw new UserError(`bad --engine-opt "${opt}": use key=value`)
    const key = m[1]
    let value: unknown = m[2] ?? true
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value)
      } catch { /* keep as string */ }
    }
    if (key in out) out[key] = ([] as unknown[]).concat(out[key], value)
    else out[key] = value
  }
  return out
}

export function daemonConfig(input: ProvisionInput): Record<string, unknown> {
  const e = input.engine
  const labels = [`provider=${input.driverName}`, `berth.machine=${input.machineName}`]
  for (const [k, v] of Object.entries(input.driverLabels ?? {})) labels.push(`${k}=${v}`)
  labels.push(...e.labels)
  const cfg: Record<string, unknown> = {
    ...input.engineDefaults,
    ...engineOptsToConfig(e.opts),
    hosts: ['unix:///var/run/docker.sock', `tcp://0.0.0.0:${e.port}`],
    tls: true,
    tlsverify: true,
    tlscacert: `${REMOTE_DIR}/ca.pem`,
    tlscert: `${REMOTE_DIR}/server.pem`,
    tlskey: `${REMOTE_DIR}/server-key.pem`,
    labels,
  }
  if (e.insecureRegistries.length) cfg['insecure-registries'] = e.insecureRegistries
  if (e.registryMirrors.length) cfg['registry-mirrors'] = e.registryMirrors
  if (e.storageDriver) cfg['storage-driver'] = e.storageDriver
  return cfg
}

export function serverSans(input: {ip: string; addresses: string[]; hostname?: string; tlsSans: string[]}): string[] {
  const all = [input.ip, ...input.addresses, input.hostname, 'localhost', '127.0.0.1', ...input.tlsSans]
  return [...new Set(all.filter((s): s is string => !!s))]
}

/** Issue a server certificate for the host and upload it; the key travels only over SFTP. */
export async function installServerCert(s: SSHSession, ca: KeyPairPem, cn: string, sans: string[]): Promise<void> {
  const server = await issue(ca, {cn, usage: 'server', sans})
  await Promise.all([
    s.writeFile(`${REMOTE_DIR}/ca.pem`, ca.certPem, 0o644),
    s.writeFile(`${REMOTE_DIR}/server.pem`, server.certPem, 0o644),
    s.writeFile(`${REMOTE_DIR}/server-key.pem`, server.keyPem, 0o600),
  ])
}

const DROPIN = `${'/etc/systemd/system/docker.service.d'}/10-berth.conf`

/** Engine env (proxies may carry credentials) lives in a root-only file, never in a command line. */
export function writeEngineEnv(s: SSHSession, envLines: string[]): Promise<void> {
  const quoted = envLines.map(l => {
    const i = l.indexOf('=')
    return `${l.slice(0, i)}=${shellQuote(l.slice(i + 1))}\n`
  })
  return s.writeFile(`${REMOTE_DIR}/berth.env`, quoted.join(''), 0o600)
}

/** (Re)start dockerd by whatever the host has: systemd, or no init at all. */
export async function restartEngine(s: SSHSession, facts: HostFacts, envLines?: string[]): Promise<void> {
  const dockerd = facts.dockerd ?? '/usr/bin/dockerd'
  if (envLines) await writeEngineEnv(s, envLines)
  if (facts.init === 'systemd') {
    // Clearing ExecStart drops the distro's -H flags, which would clash with daemon.json's hosts.
    const unit = `[Service]\nExecStart=\nExecStart=${dockerd}\nEnvironmentFile=-${REMOTE_DIR}/berth.env\n`
    await s.run(`mkdir -p ${DROPIN.replace(/\/[^/]+$/, '')}`, {root: true})
    await s.writeFile(DROPIN, unit, 0o644)
    // Enable only when not yet, and without the SysV hook: Debian's docker.io ships an init.d script, so a
    // plain enable runs update-rc.d (perl), 11 s of a TCG guest's time, for links systemd never reads.
    await s.run('systemctl daemon-reload && { systemctl is-enabled --quiet docker || SYSTEMCTL_SKIP_SYSV=1 systemctl enable --no-reload docker >/dev/null 2>&1; }; systemctl reset-failed docker >/dev/null 2>&1; systemctl restart docker', {root: true, what: 'systemctl restart docker'})
    return
  }
  await s.run(initlessRestart(dockerd), {root: true, what: 'restart dockerd'})
}

/*
 * dockerd without an init system, in one place: stop by its pidfile (waiting up to 30 s for it to
 * go), start detached so it outlives the SSH session, with berth's engine env.
 */
const DOCKERD_PID = '/var/run/docker.pid'
const STOP_DOCKERD = `pid=$(cat ${DOCKERD_PID} 2>/dev/null); if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; fi`
const startDockerd = (dockerd: string) => `mkdir -p /var/log; setsid -f sh -c 'set -a; . ${REMOTE_DIR}/berth.env; set +a; exec ${dockerd}' </dev/null >>/var/log/docker.log 2>&1`

function initlessRestart(dockerd: string): string {
  return `${STOP_DOCKERD}\n${startDockerd(dockerd)}`
}

/** Start dockerd if it is not running (after a host start); leaves a running one alone. */
export async function ensureEngineRunning(s: SSHSession): Promise<void> {
  const facts = await gatherFacts(s)
  const dockerd = facts.dockerd ?? '/usr/bin/dockerd'
  if (facts.init === 'systemd') {
    await s.run('systemctl is-active --quiet docker || systemctl start docker', {root: true, what: 'systemctl start docker'})
    return
  }
  // A pidfile left by a host that was powered off would make the new dockerd refuse to start.
  await s.run(`pid=$(cat ${DOCKERD_PID} 2>/dev/null); if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then exit 0; fi; rm -f ${DOCKERD_PID}; ${startDockerd(dockerd)}`, {root: true, what: 'start dockerd'})
}

/**
 * A VM answers SSH before its boot is over (cloud-init may still be adding users and keys or
 * holding the dpkg lock): wait for systemd to call the boot finished. "degraded" (some unit
 * failed) still lets us go on; systemd older than 240 has no --wait and answers at once.
 */
export async function waitBootFinished(s: SSHSession, timeoutSec = 300): Promise<void> {
  const r = await s.exec(`timeout ${timeoutSec} systemctl is-system-running --wait 2>/dev/null; echo "rc=$?"`)
  const state = r.stdout.split('\n').map(l => l.trim()).find(l => /^[a-z-]+$/.test(l))
  if (/rc=124/.test(r.stdout)) throw new UserError(`the host's boot did not finish within ${timeoutSec} s (systemd: ${state ?? 'starting'}): see "systemctl list-jobs" on it`)
  if (state === 'stopping' || state === 'maintenance') throw new UserError(`the host is ${state === 'stopping' ? 'shutting down' : 'in maintenance mode'} (systemd: ${state})`)
}

/**
 * The whole provisioning, over the one session: detect the OS, install Docker if absent,
 * issue and upload the server certificate, write daemon.json, (re)start the engine.
 * Idempotent: re-running rewrites the same files and restarts the engine.
 */
export async function provision(s: SSHSession, input: ProvisionInput): Promise<ProvisionResult> {
  const step = input.step ?? (() => {})
  step('inspecting host')
  // Independent round trips go out together: each one costs a remote process.
  let facts = await gatherFacts(s)
  const os = osProvisioner(facts.os)
  if (facts.init === 'systemd') {
    step('waiting for boot to finish')
    // An install comes next: cloud-init's apt at first boot is what it would wait for, so show it.
    // The boot then includes cloud-init's apt, which gets the package lock's patience on top (a TCG guest's apt-get update takes minutes).
    await (facts.dockerd ? waitBootFinished(s) : reportLockWhile({s, step}, os.lockHolder, waitBootFinished(s, 300 + LOCK_TIMEOUT_SEC)))
  }
  if (!facts.dockerd) {
    const url = input.engine.installUrl
    if (url === 'none') throw new UserError('Docker is not installed on the host and --engine-install-url is "none": install it there first, or let berth ("auto", or an install script URL)')
    step(`installing Docker (${url === 'auto' ? `${os.family} packages` : url}${input.engine.installProxy ? ', through the install proxy' : ''})`)
    const c: InstallContext = {s, proxy: input.engine.installProxy, step}
    if (url === 'auto') await os.installEngine(c)
    else await runInstallScript(c, os, url)
    facts = await gatherFacts(s)
    if (!facts.dockerd) throw new UserError(url === 'auto' ? `the ${os.family} packages were installed but dockerd is not on the host` : `the install script ${url} finished but dockerd is not on the host`)
  }
  step('installing certificates and daemon.json')
  const sans = serverSans({ip: input.ip, addresses: [...input.addresses, ...facts.addresses], hostname: facts.hostname, tlsSans: input.engine.tlsSans})
  await Promise.all([
    installServerCert(s, input.ca, input.machineName, sans),
    s.writeFile(`${REMOTE_DIR}/daemon.json`, JSON.stringify(daemonConfig(input), null, 2) + '\n', 0o644),
    writeEngineEnv(s, input.engine.env),
  ])
  step('starting engine')
  await restartEngine(s, facts)
  return {sans, facts}
}

const PRIVATE_HOST = /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.|localhost$|\[::1\]$|\[f[cd])/

/**
 * Fetch a get.docker.com-style script to a temp file and run it as root, with the install proxy
 * (if any) as its http(s)_proxy and its package manager's proxy. A script on a private address
 * is fetched directly; any other through the proxy. Its failure is one line naming the script.
 */
async function runInstallScript(c: InstallContext, os: OSProvisioner, url: string): Promise<void> {
  if (!/^https?:\/\//.test(url)) throw new UserError(`--engine-install-url must be an http(s) URL, "auto" or "none" (got "${url}")`)
  const direct = PRIVATE_HOST.test(new URL(url).host)
  const envFile = `${REMOTE_DIR}/.berth-install-proxy.env`
  const q = shellQuote(url)
  if (c.proxy) await c.s.writeFile(envFile, ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY'].map(k => `${k}=${shellQuote(c.proxy!)}\n`).join(''), 0o600)
  const script = [
    't=$(mktemp)', 'trap \'rm -f "$t"\' EXIT',
    c.proxy ? `set -a; . ${envFile}; set +a` : '',
    `if command -v curl >/dev/null; then curl -fsSL ${direct ? "--noproxy '*' " : ''}-o "$t" ${q} || exit 90; else wget -q ${direct ? '--no-proxy ' : ''}-O "$t" ${q} || exit 90; fi`,
    'sh "$t"',
  ].filter(Boolean).join('\n')
  try {
    const r = await os.withProxy(c, () => c.s.exec(script, {root: true}))
    if (r.code === 90) throw new UserError(`could not fetch the install script ${url} from the host (curl/wget failed)`)
    const last = (r.stderr.trim() || r.stdout.trim()).split('\n').at(-1) ?? ''
    if (r.code !== 0) throw new UserError(`the install script ${url} failed (exit ${r.code})${last ? `: ${last}` : ''}`)
  } finally {
    if (c.proxy) await c.s.run(`rm -f ${envFile}`, {root: true}).catch(() => {})
  }
}

/**
 * Upgrade the engine's packages to the newest the host's sources offer (or re-run the install
 * script), restart the engine when anything changed. A no-op leaves the engine running.
 */
export async function upgrade(s: SSHSession, engine: EngineOptions, step: (m: string) => void = () => {}): Promise<UpgradeResult> {
  const facts = await gatherFacts(s)
  const os = osProvisioner(facts.os)
  const c: InstallContext = {s, proxy: engine.installProxy, step}
  let r: UpgradeResult
  if (engine.installUrl === 'auto' || engine.installUrl === 'none') {
    r = await os.upgradeEngine(c)
  } else {
    const from = await os.engineVersions(s)
    await runInstallScript(c, os, engine.installUrl)
    const to = await os.engineVersions(s)
    r = {from, to, changed: JSON.stringify(from) !== JSON.stringify(to)}
  }
  if (r.changed) {
    step('restarting engine')
    await restartEngine(s, await gatherFacts(s), engine.env)
  }
  return r
}

/**
 * Undo what provision wrote (for hosts berth does not own, e.g. generic): stop the engine and
 * remove its TLS files, daemon.json, env file and systemd drop-in. Docker itself stays installed.
 */
export async function deprovision(s: SSHSession): Promise<void> {
  const facts = await gatherFacts(s)
  const stop = facts.init === 'systemd' ? `rm -f ${DROPIN}; systemctl daemon-reload; systemctl stop docker` : STOP_DOCKERD
  await s.run(`${stop}; rm -f ${['ca.pem', 'server.pem', 'server-key.pem', 'daemon.json', 'berth.env'].map(f => `${REMOTE_DIR}/${f}`).join(' ')}`, {root: true, what: 'deprovision'})
}
