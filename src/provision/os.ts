/**
 * One provisioner per OS family, as libmachine has: how the engine's packages are installed,
 * upgraded and versioned, and how the package manager is pointed at an install-only proxy.
 * A family plugs in by being listed in FAMILIES; provision.ts knows only this interface.
 */
import {UserError} from '../core/index.js'
import {shellQuote, type SSHSession} from '../ssh/index.js'

/** What a family needs of the host: commands and SFTP writes over the machine's one session. */
export type Remote = Pick<SSHSession, 'run' | 'exec' | 'writeFile'>

export interface InstallContext {
  s: Remote
  /** http(s) proxy for the package manager during this install or upgrade only. */
  proxy?: string
  step: (msg: string) => void
}

export interface UpgradeResult {
  /** Engine package versions before and after (package name -> version). */
  from: Record<string, string>
  to: Record<string, string>
  changed: boolean
}

export interface OSProvisioner {
  family: string
  /** os-release IDs (ID or ID_LIKE) this family provisions. */
  ids: string[]
  /** A command printing "PID comm" of the package manager's lock holder, nothing when it is free. */
  lockHolder: string
  installEngine(c: InstallContext): Promise<void>
  upgradeEngine(c: InstallContext): Promise<UpgradeResult>
  engineVersions(s: Remote): Promise<Record<string, string>>
  /** Run fn with the package manager using the proxy (a root-only file, removed after: never in argv, never left behind). */
  withProxy<T>(c: InstallContext, fn: () => Promise<T>): Promise<T>
}

/** Seconds the package manager waits for another one's lock (cloud-init's at first boot) before giving up. */
export const LOCK_TIMEOUT_SEC = 600

const ENGINE_DEBS = ['docker.io', 'docker-cli', 'docker-ce', 'docker-ce-cli', 'containerd.io', 'containerd']
const APT_LOCKS = ['/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock', '/var/lib/apt/lists/lock', '/var/cache/apt/archives/lock']
const APT = `DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=${LOCK_TIMEOUT_SEC}`
const APT_PROXY_CONF = '/etc/apt/apt.conf.d/00berth-install-proxy'

/**
 * "PID comm" of a process holding one of the given lock files (POSIX locks, as apt and dpkg take
 * them), empty when all are free. Asked with F_GETLK, which takes no lock: perl is part of every
 * Debian and Ubuntu (perl-base is essential), and /proc/locks cannot be matched to a file on an
 * overlay root (the inode it shows is not the one stat sees).
 */
export function posixLockHolder(files: string[]): string {
  const perl = 'for (@ARGV) { open(my $f, "<", $_) or next; my $l = pack("ssx4qqix4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_GETLK, $l) or next; my ($t, $w, $s, $n, $p) = unpack("ssx4qqix4", $l); next if $t == F_UNLCK; open(my $c, "<", "/proc/$p/comm"); my $comm = <$c> // "?"; chomp $comm; print "$p $comm\\n"; exit }'
  return `perl -MFcntl -e ${shellQuote(perl)} ${files.join(' ')}`
}

/** The same for package managers whose lock is a PID file (dnf, rpm): a live PID in one of them. */
export function pidFileLockHolder(files: string[]): string {
  return `for f in ${files.join(' ')}; do p=$(cat "$f" 2>/dev/null | tr -dc 0-9); if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then echo "$p $(cat /proc/$p/comm)"; exit 0; fi; done; true`
}

/**
 * Another package manager (cloud-init's package_update at first boot) holds the lock: say so,
 * and wait for it here, probing once a second over the open session, so that the wait is seen
 * and measured; apt's own DPkg::Lock::Timeout then covers a lock taken again in between.
 */
async function waitForLock(c: InstallContext, probe: string, timeoutSec = LOCK_TIMEOUT_SEC): Promise<void> {
  const holder = async () => (await c.s.run(probe, {root: true, what: 'check the package lock'})).trim()
  let h = await holder()
  if (!h) return
  const [pid, comm] = h.split(' ')
  c.step(`waiting for the package lock: held by process ${pid} (${comm || '?'}), e.g. cloud-init at first boot; up to ${timeoutSec} s`)
  const t0 = Date.now()
  while (h) {
    if (Date.now() - t0 > timeoutSec * 1000) throw new UserError(`the package lock is still held by process ${pid} (${comm || '?'}) after ${timeoutSec} s: see what runs it on the host`)
    await new Promise(r => setTimeout(r, 1000))
    h = await holder()
  }
  c.step(`package lock free after a wait of ${((Date.now() - t0) / 1000).toFixed(1)} s`)
}

/**
 * While `work` runs (the wait for a VM's boot to finish, during which cloud-init's package_update
 * runs apt), watch the package lock and say when another process holds it and when it is free, so
 * the wait that the boot wait covers is seen and measured as the install's own wait would be.
 */
export async function reportLockWhile<T>(c: InstallContext, probe: string, work: Promise<T>): Promise<T> {
  let done = false
  const settled = work.finally(() => {
    done = true
  })
  const over = settled.then(() => {}, () => {})
  let since: number | undefined
  while (!done) {
    const h = (await c.s.run(probe, {root: true, what: 'check the package lock'}).catch(() => '')).trim()
    if (h && since === undefined) {
      since = Date.now()
      const [pid, comm] = h.split(' ')
      c.step(`waiting for the package lock: held by process ${pid} (${comm || '?'}) while the host boots, e.g. cloud-init's package_update`)
    } else if (!h && since !== undefined) {
      c.step(`package lock free after a wait of ${((Date.now() - since) / 1000).toFixed(1)} s`)
      since = undefined
    }
    await Promise.race([over, new Promise(r => setTimeout(r, 1000))])
  }
  return settled
}

function parsePolicy(out: string): Record<string, {installed?: string; candidate?: string}> {
  const res: Record<string, {installed?: string; candidate?: string}> = {}
  let pkg = ''
  for (const line of out.split('\n')) {
    const head = /^(\S+):$/.exec(line)
    if (head) res[pkg = head[1]] = {}
    const m = /^\s+(Installed|Candidate):\s+(\S+)/.exec(line)
    if (m && pkg && m[2] !== '(none)') res[pkg][m[1] === 'Installed' ? 'installed' : 'candidate'] = m[2]
  }
  return res
}

const installed = (p: ReturnType<typeof parsePolicy>) => Object.fromEntries(Object.entries(p).filter(([, v]) => v.installed).map(([k, v]) => [k, v.installed!]))

const debianFamily: OSProvisioner = {
  family: 'debian',
  ids: ['debian', 'ubuntu'],
  lockHolder: posixLockHolder(APT_LOCKS),
  async withProxy(c, fn) {
    if (!c.proxy) return fn()
    const q = JSON.stringify(c.proxy)
    await c.s.writeFile(APT_PROXY_CONF, `Acquire::http::Proxy ${q};\nAcquire::https::Proxy ${q};\n`, 0o600)
    try {
      return await fn()
    } finally {
      await c.s.run(`rm -f ${APT_PROXY_CONF}`, {root: true}).catch(() => {})
    }
  },
  async installEngine(c) {
    await this.withProxy(c, async () => {
      await waitForLock(c, this.lockHolder)
      c.step('apt-get install docker.io')
      // Since trixie the client is a package of its own (docker-cli, only recommended): `berth ssh NAME docker ps` wants it.
      await c.s.run(`${APT} -o APT::Update::Error-Mode=any update && ${APT} install -y --no-install-recommends docker.io $(apt-cache show docker-cli >/dev/null 2>&1 && echo docker-cli)`, {root: true, what: 'apt-get install docker.io'})
    })
  },
  async engineVersions(s) {
    return installed(parsePolicy(await s.run(`apt-cache policy ${ENGINE_DEBS.join(' ')}`, {what: 'apt-cache policy'})))
  },
  async upgradeEngine(c) {
    return this.withProxy(c, async () => {
      await waitForLock(c, this.lockHolder)
      c.step('apt-get update')
      const policy = parsePolicy(await c.s.run(`${APT} -o APT::Update::Error-Mode=any update >/dev/null && apt-cache policy ${ENGINE_DEBS.join(' ')}`, {root: true, what: 'apt-get update'}))
      const from = installed(policy)
      if (!Object.keys(from).length) throw new UserError('no Docker engine package is installed on the host (docker.io, docker-ce): nothing to upgrade')
      const stale = Object.keys(from).filter(p => policy[p].candidate && policy[p].candidate !== from[p])
      if (!stale.length) return {from, to: from, changed: false}
      // docker.io before trixie carried the client; from trixie on it is docker-cli, which comes along.
      if (stale.includes('docker.io') && !from['docker-cli'] && policy['docker-cli']?.candidate) stale.push('docker-cli')
      c.step(`apt-get install ${stale.join(' ')}`)
      // Only these (installed ones, or the client split out of one): no recommends (a new release's may pull in systemd),
      // and the configuration files as they are (berth's daemon.json and the host's own edits stand).
      await c.s.run(`${APT} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install -y --no-install-recommends ${stale.join(' ')}`, {root: true, what: 'apt-get upgrade of the engine'})
      return {from, to: await this.engineVersions(c.s), changed: true}
    })
  },
}

const ENGINE_RPMS = ['docker-ce', 'docker-ce-cli', 'containerd.io']
const DNF_PROXY_CONF = '/etc/dnf/berth-install-proxy.conf'
const DNF_LOCKS = ['/var/lib/dnf/rpmdb_lock.pid', '/var/cache/dnf/metadata_lock.pid', '/var/lib/rpm/.rpm.lock']

/** Fedora, RHEL and its rebuilds: docker-ce from Docker's own repository (the distributions ship no docker.io). */
const redhatFamily: OSProvisioner = {
  family: 'redhat',
  ids: ['fedora', 'rhel', 'centos', 'rocky', 'almalinux'],
  lockHolder: pidFileLockHolder(DNF_LOCKS),
  async withProxy(c, fn) {
    if (!c.proxy) return fn()
    // dnf reads extra options only from its main config: a copy with the proxy, named by --config.
    await c.s.run(`cp /etc/dnf/dnf.conf ${DNF_PROXY_CONF} && chmod 600 ${DNF_PROXY_CONF}`, {root: true})
    const main = await c.s.exec(`cat ${DNF_PROXY_CONF}`, {root: true})
    await c.s.writeFile(DNF_PROXY_CONF, `${main.stdout.trimEnd()}\nproxy=${c.proxy}\n`, 0o600)
    try {
      return await fn()
    } finally {
      await c.s.run(`rm -f ${DNF_PROXY_CONF}`, {root: true}).catch(() => {})
    }
  },
  async installEngine(c) {
    await this.withProxy(c, async () => {
      await waitForLock(c, this.lockHolder)
      const dnf = dnfCommand(c)
      const os = await c.s.exec('. /etc/os-release && echo "$ID"')
      const repo = `https://download.docker.com/linux/${os.stdout.trim() === 'fedora' ? 'fedora' : os.stdout.trim() === 'rhel' ? 'rhel' : 'centos'}/docker-ce.repo`
      c.step('dnf install docker-ce')
      await c.s.run(`${dnf} -y install dnf-plugins-core && ${dnf} config-manager --add-repo ${shellQuote(repo)} && ${dnf} -y install ${ENGINE_RPMS.join(' ')}`, {root: true, what: 'dnf install docker-ce'})
    })
  },
  async engineVersions(s) {
    const out = (await s.exec(`rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' ${ENGINE_RPMS.join(' ')}`)).stdout
    return Object.fromEntries(out.split('\n').map(l => l.split(' ')).filter(p => p.length === 2).map(([n, v]) => [n, v]))
  },
  async upgradeEngine(c) {
    return this.withProxy(c, async () => {
      await waitForLock(c, this.lockHolder)
      const from = await this.engineVersions(c.s)
      if (!Object.keys(from).length) throw new UserError('no Docker engine package is installed on the host (docker-ce): nothing to upgrade')
      c.step('dnf upgrade docker-ce')
      await c.s.run(`${dnfCommand(c)} -y upgrade ${Object.keys(from).join(' ')}`, {root: true, what: 'dnf upgrade of the engine'})
      const to = await this.engineVersions(c.s)
      return {from, to, changed: JSON.stringify(from) !== JSON.stringify(to)}
    })
  },
}

const dnfCommand = (c: InstallContext) => (c.proxy ? `dnf --config=${DNF_PROXY_CONF}` : 'dnf')

const FAMILIES = [debianFamily, redhatFamily]

export function osProvisioner(os: Record<string, string>): OSProvisioner {
  const ids = [os.ID, ...(os.ID_LIKE ?? '').split(/\s+/)].filter(Boolean)
  const family = FAMILIES.find(f => ids.some(id => f.ids.includes(id)))
  if (family) return family
  const names = FAMILIES.flatMap(f => f.ids).map(id => ({debian: 'Debian', ubuntu: 'Ubuntu', fedora: 'Fedora', rhel: 'RHEL', centos: 'CentOS', rocky: 'Rocky Linux', almalinux: 'AlmaLinux'})[id] ?? id)
  throw new UserError(`unsupported OS "${os.PRETTY_NAME ?? os.ID ?? 'unknown'}": berth provisions ${names.slice(0, -1).join(', ')} and ${names.at(-1)} hosts`)
}
