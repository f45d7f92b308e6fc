/**
 * Lab hosts: small Linux "machines" on this box, each a network namespace on a berth
 * bridge plus private mount/UTS/PID namespaces, with its own sshd and (once provisioned)
 * its own dockerd. Usable without a berth store: the cloud simulators in test/ boot their
 * "VMs" with bootHost().
 *
 * PID 1 of each host is a tiny reaping init, so stopping a host is "signal everything in its
 * PID namespace, then kill its init", which takes exactly that host's processes and no others.
 */
import {spawn} from 'node:child_process'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {pidAlive, pollUntil, which} from '../../src/sdk/index.js'
import {UserError} from '../../src/sdk/index.js'
import {generateKeyPair} from '../../src/sdk/index.js'
import {bridgeName, DEFAULT_SUBNET, ensureBridge, joinNetwork, type LabNet, leaveNetwork, linkExists, networkBridge, normaliseSubnet, parseSubnet} from './network.js'
import {run} from './run.js'
export const DEFAULT_ROOT = '/var/lib/berth-lab'

export interface LabHost {
  id: string
  hostname: string
  ip: string
  subnet: string
  bridge: string
  netns: string
  veth: string
  dir: string
  /** Host-side PID of the host's init; 0 while stopped. */
  initPid: number
  /** Start time of initPid (clock ticks), so a recycled PID is never mistaken for it. */
  initStart: number
  /** A named network, behind NAT or with a way out (absent: the subnet's own bridge, no route out). */
  net?: LabNet
  gateway?: string
  /** Root filesystem the host boots on (read-only, under an overlay of its own); absent: this box's. */
  image?: string
}

export interface BootOptions {
  id: string
  hostname: string
  /** OpenSSH public key line(s) trusted for root. */
  authorizedKeys: string
  subnet?: string
  root?: string
  sshPort?: number
  net?: LabNet
  /** A root filesystem of its own (`berth lab build-image`): the host sees its OS, packages and apt. */
  image?: string
}

const REQUIRED = [
  ['ip', 'iproute2'], ['nsenter', 'util-linux'], ['unshare', 'util-linux'], ['sshd', 'openssh-server'], ['perl', 'perl-base'], ['mount', 'mount'],
] as const

/** Everything a lab host needs, named with the package that brings it. */
export async function checkLab(): Promise<void> {
  if (process.platform !== 'linux') throw new UserError(`the lab driver needs Linux (this is ${process.platform})`)
  if (process.getuid?.() !== 0) throw new UserError('the lab driver needs root (network and mount namespaces): run berth as root')
  const missing: string[] = []
  for (const [bin, pkg] of REQUIRED) {
    if (!await which(bin)) missing.push(`${bin} (${pkg})`)
  }
  if (missing.length) throw new UserError(`the lab driver needs ${missing.join(', ')}: apt-get install -y ${[...new Set(missing.map(m => m.replace(/.*\((.*)\)/, '$1')))].join(' ')}`)
}

/** Where a rootfs host sees its sshd files (bind-mounted from the host's folder). */
const IMAGE_SSH_DIR = '/etc/berth-lab/ssh'

function sshdConfig(sshDir: string, port: number): string {
  return [
    `ListenAddress 0.0.0.0:${port}`,
    `HostKey ${sshDir}/ssh_host_ed25519_key`,
    `AuthorizedKeysFile ${sshDir}/authorized_keys`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'UseDNS no',
    'PidFile /run/sshd.pid',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n')
}

const REAPER = `exec perl -e '$0 = "berth-lab-init"; while (1) { sleep 1 if wait() == -1 }' </dev/null >/dev/null 2>&1`

/**
 * A host on a tree of its own: the tree (shared, never written) under an overlay whose upper
 * layer is the host's, Docker's data on a plain folder (overlay2 cannot stack on an overlay),
 * then pivot_root into it, so that sshd, every remote command and the init are the tree's.
 */
const ROOTFS_BOOT = String.raw`R="$D/rootfs"
mount -t overlay berth-lab -o "lowerdir=$IMG,upperdir=$D/upper,workdir=$D/work" "$R"
mkdir -p "$R/var/lib/docker" "$R${IMAGE_SSH_DIR}" "$R/.oldroot" "$R/proc" "$R/sys" "$R/dev" "$R/run"
mount --bind "$D/docker" "$R/var/lib/docker"
mount --bind "$D/ssh" "$R${IMAGE_SSH_DIR}"
[ -e "$R/etc/hostname" ] || : > "$R/etc/hostname"
mount --bind "$D/hostname" "$R/etc/hostname"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mkdir -p -m 755 "$R/run/sshd" "$R/run/lock"
cd "$R"
pivot_root . .oldroot
# The tree's /etc/rc.local runs before sshd, as a cloud image's first-boot jobs do (cloud-init's apt
# lock is held before the first login): what it leaves running stays part of the host.
exec chroot . /bin/sh -c "umount -l /.oldroot && rmdir /.oldroot && cd / && { [ ! -x /etc/rc.local ] || /etc/rc.local </dev/null >>/var/log/rc.local.log 2>&1; } && /usr/sbin/sshd -f ${IMAGE_SSH_DIR}/sshd_config && echo ready $pid && $REAPER"
`

/** Runs as PID 1 of the host: mounts its private folders, starts sshd, reports its host PID, then reaps. */
const INIT_SCRIPT = `set -e
# The caller's umask reaches every process of the host; sshd and dockerd refuse group- or
# world-writable folders, so the host starts from the usual 022 whatever berth was run under.
umask 022
read -r pid rest < /proc/self/stat
hostname "$BERTH_HOSTNAME"
mount --make-rprivate /
if [ -n "$IMG" ]; then
${ROOTFS_BOOT}fi
mount --bind "$D/etc-docker" /etc/docker
mount --bind "$D/docker" /var/lib/docker
mount --bind "$D/log" /var/log
mount --bind "$D/hostname" /etc/hostname
# A home of its own, as a fresh machine has: the box's /root (its shell rc files, ~/.docker,
# ~/.ssh) must not leak into the host, nor run in every remote command's shell.
mkdir -p -m 700 "$D/root"
mount --bind "$D/root" /root
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p -m 755 /run/sshd /run/lock
mount -t proc proc /proc
/usr/sbin/sshd -f "$D/ssh/sshd_config"
echo "ready $pid"
${REAPER}
`

async function procStart(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
}

export async function initAlive(h: LabHost): Promise<boolean> {
  if (!h.initPid || !pidAlive(h.initPid)) return false
  try {
    return await procStart(h.initPid) === h.initStart
  } catch {
    return false
  }
}

/** A host's network wiring failed because its bridge is not there (yet, or any more). */
class BridgeMissing extends Error {}

/**
 * Start the host's init. `wiring` (shell, run first by the same process, exit 3 when the bridge
 * is missing) lets a boot make its namespace and links and start its init with one spawn: every
 * process Node spawns costs a fork of Node itself, the largest part of a lab host's CPU in berth.
 */
async function startInit(h: LabHost, wiring?: string): Promise<{pid: number; start: number}> {
  if (!h.image) for (const d of ['/etc/docker', '/var/lib/docker']) await fs.mkdir(d, {recursive: true, mode: 0o755})
  const init = ['nsenter', `--net=/run/netns/${h.netns}`, 'unshare', '--mount', '--uts', '--pid', '--fork', '/bin/sh', '-c', INIT_SCRIPT] as const
  const [cmd, args] = wiring
    ? ['sh', ['-c', `{
${wiring}
} >&2
exec ${init.slice(0, -1).join(' ')} "$1"`, 'sh', INIT_SCRIPT]] as const
    : [init[0], init.slice(1)] as const
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {PATH: '/usr/sbin:/usr/bin:/sbin:/bin', D: h.dir, BERTH_HOSTNAME: h.hostname, REAPER, ...(h.image ? {IMG: h.image} : {})},
  })
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => reject(new Error(`lab host ${h.hostname}: init did not start within 10 s`)), 10_000)
    child.stdout.on('data', d => {
      out += d
      if (out.includes('\n')) {
        clearTimeout(timer)
        resolve(out.split('\n')[0])
      }
    })
    child.stderr.on('data', d => (err += d))
    child.on('exit', code => {
      clearTimeout(timer)
      if (wiring && code === 3) reject(new BridgeMissing(`lab host ${h.hostname}: bridge ${h.bridge} is missing`))
      else reject(new Error(`lab host ${h.hostname}: ${wiring ? 'wiring or ' : ''}init failed (exit ${code}): ${err.trim()}`))
    })
  })
  child.stdout.destroy()
  child.stderr.destroy()
  child.removeAllListeners('exit')
  child.unref()
  const pid = Number(/^ready (\d+)$/.exec(line)?.[1])
  if (!pid) throw new Error(`lab host ${h.hostname}: unexpected init output "${line}"`)
  return {pid, start: await procStart(pid)}
}

/** Run a command inside a running host (all its namespaces). */
export async function hostExec(h: LabHost, args: string[]): Promise<string> {
  return run('nsenter', ['-t', String(h.initPid), '-a', ...args])
}


/**
 * Every name a host will use follows from its id, so a caller can record the plan before
 * anything exists and destroyHost(plan) cleans up whatever a crash left half-made.
 */
export function planHost(opts: BootOptions): LabHost {
  const subnet = normaliseSubnet(opts.subnet ?? DEFAULT_SUBNET)
  if (!/^[0-9a-f]{6,32}$/.test(opts.id)) throw new Error(`lab host id must be hex (got "${opts.id}")`)
  const root = opts.root ?? process.env.BERTH_LAB_DIR ?? DEFAULT_ROOT
  return {
    id: opts.id, hostname: opts.hostname, ip: '', subnet, bridge: opts.net?.name ? networkBridge(opts.net.name) : bridgeName(subnet), dir: path.join(root, opts.id),
    netns: `berth-${opts.id}`, veth: `bl${opts.id.slice(0, 12)}`, initPid: 0, initStart: 0, ...(opts.net ? {net: opts.net} : {}),
    ...(opts.image ? {image: path.resolve(opts.image)} : {}),
  }
}

/** Make a host, wire it to the bridge, start its init and sshd. Undone by destroyHost on failure. */
export async function bootHost(opts: BootOptions, plan?: LabHost): Promise<LabHost> {
  await checkLab()
  const h = plan ?? planHost(opts)
  const {subnet, bridge, dir} = h
  const {prefix} = parseSubnet(subnet)
  await fs.mkdir(path.dirname(dir), {recursive: true, mode: 0o700})
  await fs.mkdir(dir, {mode: 0o700})
  try {
    for (const d of h.image ? ['docker', 'ssh', 'upper', 'work', 'rootfs'] : ['etc-docker', 'docker', 'log', 'ssh', 'root']) await fs.mkdir(path.join(dir, d), {mode: 0o700})
    // The overlay's upper folder is the host's "/": its mode is what the host's root directory shows.
    if (h.image) await fs.chmod(path.join(dir, 'upper'), 0o755)
    await fs.writeFile(path.join(dir, 'hostname'), opts.hostname + '\n', {mode: 0o644})
    const hostKey = await generateKeyPair(`root@${h.hostname}`)
    await fs.writeFile(path.join(dir, 'ssh', 'ssh_host_ed25519_key'), hostKey.privateKey, {mode: 0o600})
    await fs.writeFile(path.join(dir, 'ssh', 'authorized_keys'), opts.authorizedKeys.trim() + '\n', {mode: 0o600})
    await fs.writeFile(path.join(dir, 'ssh', 'sshd_config'), sshdConfig(h.image ? IMAGE_SSH_DIR : path.join(dir, 'ssh'), opts.sshPort ?? 22), {mode: 0o600})
    const lease = await joinNetwork(h)
    h.ip = lease.ip
    if (lease.gateway) h.gateway = lease.gateway
    await fs.writeFile(path.join(dir, 'host.json'), JSON.stringify(h, null, 2), {mode: 0o600})
    // One shell does all the wiring and then becomes the host's init (startInit). Exit 3: the bridge is missing.
    const wire = [
      'set -e',
      `ip -batch - <<'EOF'\nnetns add ${h.netns}\nlink add ${h.veth} type veth peer name eth0 netns ${h.netns}\nEOF`,
      `ip link set ${h.veth} master ${bridge} up 2>/dev/null || exit 3`,
      // No default route unless its network has a gateway (a home router, or this box with
      // --lab-nat): a lab host reaches this box and its subnet, never another address.
      `ip -n ${h.netns} -batch - <<'EOF'\naddr add ${h.ip}/${prefix} dev eth0\nlink set eth0 up\nlink set lo up\n${h.gateway ? `route add default via ${h.gateway}\n` : ''}EOF`,
      // A previous host with this address may linger in this box's neighbour cache.
      `ip neigh flush to ${h.ip} dev ${bridge} || true`,
    ]
    // The first hosts of a subnet would each spawn the wiring only to find no bridge: sysfs says
    // so without a process (a hint only: the wiring's own check stays the word).
    if (!await fs.access(`/sys/class/net/${bridge}`).then(() => true, () => false)) await ensureBridge(subnet, bridge)
    let started: {pid: number; start: number}
    try {
      started = await startInit(h, wire.join('\n'))
    } catch (err) {
      if (!(err instanceof BridgeMissing)) throw err
      // Fast path above runs without the bridge lock; the first host (or a race with the last
      // other host's destroy) makes the bridge under the lock, then finishes the wiring.
      await ensureBridge(subnet, bridge)
      started = await startInit(h, ['set -e', `ip link set ${h.veth} master ${bridge} up`, ...wire.slice(3)].join('\n'))
    }
    h.initPid = started.pid
    h.initStart = started.start
    await fs.writeFile(path.join(h.dir, 'host.json'), JSON.stringify(h, null, 2), {mode: 0o600})
    return h
  } catch (err) {
    await destroyHost(h).catch(() => {})
    throw err
  }
}

export async function startHost(h: LabHost): Promise<LabHost> {
  if (await initAlive(h)) return h
  if (!await fs.access(`/run/netns/${h.netns}`).then(() => true, () => false)) {
    throw new Error(`lab host ${h.hostname}: its network namespace ${h.netns} is gone (was the machine rebooted?)`)
  }
  const {pid, start} = await startInit(h)
  h.initPid = pid
  h.initStart = start
  await fs.writeFile(path.join(h.dir, 'host.json'), JSON.stringify(h, null, 2), {mode: 0o600})
  return h
}

async function nsMembers(h: LabHost): Promise<number[]> {
  let target: string
  try {
    target = await fs.readlink(`/proc/${h.initPid}/ns/pid`)
  } catch {
    return []
  }
  const out: number[] = []
  for (const ent of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(ent)) continue
    try {
      if (await fs.readlink(`/proc/${ent}/ns/pid`) === target) out.push(Number(ent))
    } catch { /* exited */ }
  }
  return out
}

async function parentOf(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  return Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0)
}

const comm = (pid: number) => fs.readFile(`/proc/${pid}/comm`, 'utf8').then(s => s.trim(), () => '')

/**
 * Stop like a power-off that lets the engine save its state: containers are killed at once
 * (as a VM's power-off would), then dockerd, containerd and sshd get SIGTERM and up to
 * graceMs to exit, then the init is killed, which takes whatever is left.
 */
export async function stopHost(h: LabHost, graceMs = 15_000): Promise<void> {
  if (await initAlive(h)) {
    const members = (await nsMembers(h)).filter(p => p !== h.initPid)
    const shims = new Set<number>()
    for (const p of members) if ((await comm(p)).startsWith('containerd-shim')) shims.add(p)
    // Container inits are children of shims living in nested PID namespaces; killing one ends its container.
    for (const ent of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(ent) || !shims.has(await parentOf(Number(ent)))) continue
      try {
        process.kill(Number(ent), 'SIGKILL')
      } catch { /* gone */ }
    }
    for (const p of members) {
      if (shims.has(p)) continue
      try {
        process.kill(p, 'SIGTERM')
      } catch { /* gone */ }
    }
    const idle = async () => {
      for (const p of await nsMembers(h)) if (p !== h.initPid && !(await comm(p)).startsWith('containerd-shim')) return false
      return true
    }
    await pollUntil(idle, {timeoutMs: graceMs, intervalMs: 100})
    await killHost(h)
  }
  h.initPid = 0
  h.initStart = 0
}

/** Kill the host's init: the kernel then kills every process in its PID namespace. */
export async function killHost(h: LabHost): Promise<void> {
  if (await initAlive(h)) {
    process.kill(h.initPid, 'SIGKILL')
    await pollUntil(async () => !pidAlive(h.initPid), {timeoutMs: 10_000, intervalMs: 20})
  }
  h.initPid = 0
  h.initStart = 0
  await cleanCgroups(h)
}

/** Containers killed with their host leave empty cgroups behind; remove those of this host. */
async function cleanCgroups(h: LabHost): Promise<void> {
  const ids = await fs.readdir(path.join(h.dir, 'docker', 'containers')).catch(() => [] as string[])
  const controllers = await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[])
  for (const c of controllers) {
    for (const parent of ['docker', `berth-lab-${h.id}`]) {
      for (const id of ids) await fs.rmdir(path.join('/sys/fs/cgroup', c, parent, id)).catch(() => {})
    }
    await fs.rmdir(path.join('/sys/fs/cgroup', c, `berth-lab-${h.id}`)).catch(() => {})
  }
}

export type LabState = 'Running' | 'Stopped' | 'NotFound'

export async function hostState(h: LabHost): Promise<LabState> {
  if (await initAlive(h)) return 'Running'
  const present = await fs.access(h.dir).then(() => true, () => false)
  return present ? 'Stopped' : 'NotFound'
}

/** Remove every trace: processes, namespace, links, lease, files. Safe to call on a half-made host. */
export async function destroyHost(h: LabHost): Promise<void> {
  await killHost(h).catch(() => {})
  await run('ip', ['netns', 'del', h.netns]).catch(() => {})
  if (await linkExists(h.veth)) await run('ip', ['link', 'del', h.veth]).catch(() => {})
  try {
    await fs.rm(h.dir, {recursive: true, force: true})
  } finally {
    // Even when the folder resists: the last host out must take the network (router, bridge, leases).
    await leaveNetwork(h)
  }
}
