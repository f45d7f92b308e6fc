/**
 * A WAN between lab networks, without sch_netem (this kernel has none): the router's public leg is
 * cut off the shared "internet" bridge and spliced through two TAP devices, and a small userspace
 * wire (perl, which every lab host needs already) copies each Ethernet frame from one TAP to the
 * other after the configured one-way delay (with its jitter), dropping the configured share. Both
 * directions cross it, so a network 75 ms away is 150 ms round trip from the others. Frames, not
 * routes: a router behind NAT keeps its NAT and conntrack exactly as they were, and ARP waits too,
 * as it does across a real WAN.
 *
 *   router ns: wan ── brp<id> ─┐ bwl<id> (bridge) ┌─ bwa<id> (TAP) ⇄ wire ⇄ bwb<id> (TAP) ─┐ public bridge
 *
 * A routed network (a cloud's or a data centre's, no NAT) has its subnet routed at its router's public
 * address from every other router, so that its hosts and those of every other network meet.
 */
import {spawn} from 'node:child_process'
import {promises as fs, openSync, closeSync} from 'node:fs'
import path from 'node:path'
import {ipString, parseSubnet, pidAlive, pollUntil, UserError} from '../../src/sdk/index.js'
import {tagOf, type RouterPlan, type WanSpec} from './nat.js'
import {run} from './run.js'

/**
 * Frames in, frames out, one queue a way. A frame never overtakes an earlier one (jitter spreads
 * the delay without reordering, as a real path mostly does); a queue holds at most LIMIT frames, as
 * netem's does, so a flood is dropped at the tail rather than grown without bound. A read error (its
 * TAP deleted) ends the wire, so it never outlives its network. It runs at nice -10: a frame is due
 * at a time, and on a busy box a user process that waits for the CPU adds that wait to the delay.
 */
const WIRE = String.raw`use strict; use warnings; use Time::HiRes qw(time);
my ($an, $bn, $delay, $jitter, $loss, $limit) = @ARGV;
$0 = "berth-lab-wan $an $bn"; $SIG{PIPE} = 'IGNORE'; setpriority(0, 0, -10);
sub tap { my $n = shift; open(my $fh, '+<', '/dev/net/tun') or die "/dev/net/tun: $!\n";
  ioctl($fh, 0x400454ca, pack('a16 s x22', $n, 0x1002)) or die "TUNSETIFF $n: $!\n"; $fh }
my @fd = (tap($an), tap($bn)); my @q = ([], []);
my $rin = ''; vec($rin, fileno($_), 1) = 1 for @fd;
print "ready\n"; close STDOUT;
while (1) {
  my $now = time; my $next;
  for my $i (0, 1) {
    my $q = $q[$i];
    syswrite($fd[1 - $i], (shift @$q)->[1]) while @$q && $q->[0][0] <= $now;
    $next = $q->[0][0] if @$q && (!defined $next || $q->[0][0] < $next);
  }
  my $n = select(my $rout = $rin, undef, undef, defined $next ? ($next > $now ? $next - $now : 0) : undef);
  next unless $n > 0;
  for my $i (0, 1) {
    next unless vec($rout, fileno($fd[$i]), 1);
    my $got = sysread($fd[$i], my $buf, 65536);
    die "read $i: $!\n" unless $got;
    next if rand() < $loss || @{$q[$i]} >= $limit;
    my $due = time + $delay + ($jitter ? (2 * rand() - 1) * $jitter : 0);
    $due = $q[$i][-1][0] if @{$q[$i]} && $due < $q[$i][-1][0];
    push @{$q[$i]}, [$due, $buf];
  }
}
`
const LIMIT = 5000

const idOf = (r: {bridge: string}) => r.bridge.slice(3)
const links = (r: {bridge: string}) => ({local: `bwl${idOf(r)}`, a: `bwa${idOf(r)}`, b: `bwb${idOf(r)}`, leg: `brp${idOf(r)}`})

/** Whether a network asks for a wire at all: nothing to emulate is no process. */
export const wants = (w?: WanSpec): w is WanSpec => Boolean(w && (w.delayMs || w.jitterMs || w.lossPct))

/** "75ms", "0.2s" or "75" (ms): at most 10 s. */
function duration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v.trim())
  const ms = m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : Number.NaN
  if (!(ms >= 0 && ms <= 10_000)) throw new UserError(`bad --${flag} "${v}": a one-way time such as 75ms or 0.2s, at most 10s`)
  return ms
}

/** --lab-wan-delay, --lab-wan-jitter and --lab-wan-loss, or undefined when none is given. */
export function wanOption(options: Record<string, unknown>): WanSpec | undefined {
  const [d, j, l] = ['lab-wan-delay', 'lab-wan-jitter', 'lab-wan-loss'].map(k => options[k] === undefined || options[k] === '' ? undefined : String(options[k]))
  if (d === undefined && j === undefined && l === undefined) return undefined
  const delayMs = d === undefined ? 0 : duration('lab-wan-delay', d)
  const jitterMs = j === undefined ? 0 : duration('lab-wan-jitter', j)
  if (jitterMs > delayMs) throw new UserError(`--lab-wan-jitter ${j} is more than --lab-wan-delay ${d ?? '0ms'}: the delay spreads by at most itself`)
  const m = l === undefined ? undefined : /^(\d+(?:\.\d+)?)%?$/.exec(l.trim())
  const lossPct = m ? Number(m[1]) : 0
  if (l !== undefined && !(m && lossPct < 100)) throw new UserError(`bad --lab-wan-loss "${l}": the share of packets dropped each way, in percent, such as 0.5% (below 100)`)
  return {delayMs, jitterMs, lossPct}
}

export const describeWan = (w: WanSpec) => `${w.delayMs} ms${w.jitterMs ? ` ± ${w.jitterMs} ms` : ''} each way, ${w.lossPct} % loss each way`

export const sameWan = (a?: WanSpec, b?: WanSpec) => (a?.delayMs ?? 0) === (b?.delayMs ?? 0) && (a?.jitterMs ?? 0) === (b?.jitterMs ?? 0) && (a?.lossPct ?? 0) === (b?.lossPct ?? 0)

async function procStart(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
}

export async function wireAlive(r: RouterPlan): Promise<boolean> {
  if (!r.wire?.pid || !pidAlive(r.wire.pid)) return false
  return procStart(r.wire.pid).then(s => s === r.wire!.start, () => false)
}

/**
 * Splice the wire into the router's public leg and start it; returns the router's plan with the
 * wire's PID (and start time, so that a recycled PID is never signalled). Its log is in `dir`.
 * Safe to call again on a network whose wire died: the links are kept, the process restarted.
 */
export async function startWire(r: RouterPlan, spec: WanSpec, dir: string): Promise<RouterPlan> {
  const l = links(r)
  const script = [
    'set -e',
    `if ! ip link show ${l.local} >/dev/null 2>&1; then`,
    `ip link add ${l.local} type bridge`,
    `ip link set ${l.local} up`,
    `ip link set ${l.leg} nomaster`,
    `ip link set ${l.leg} master ${l.local} up`,
    `ip tuntap add dev ${l.a} mode tap`,
    `ip link set ${l.a} master ${l.local} up`,
    `ip tuntap add dev ${l.b} mode tap`,
    `ip link set ${l.b} master ${r.publicBridge} up`,
    // With br_netfilter, frames bridged on the splice cross this box's FORWARD chain (see makeBridge).
    `iptables -I FORWARD -i ${l.local} -o ${l.local} -j ACCEPT -m comment --comment ${tagOf(r.bridge)}`,
    'fi',
  ]
  await run('sh', ['-c', script.join('\n')])
  const log = openSync(path.join(dir, 'wan.log'), 'a', 0o600)
  const args = [l.a, l.b, spec.delayMs / 1000, spec.jitterMs / 1000, spec.lossPct / 100, LIMIT].map(String)
  const child = spawn('perl', ['-', ...args], {detached: true, stdio: ['pipe', 'pipe', log]})
  closeSync(log)
  child.stdin!.end(WIRE)
  try {
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`the WAN emulator of ${r.bridge} did not start within 10 s`)), 10_000)
      child.stdout!.on('data', d => {
        out += d
        if (out.includes('ready\n')) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.on('exit', async code => {
        clearTimeout(timer)
        const why = (await fs.readFile(path.join(dir, 'wan.log'), 'utf8').catch(() => '')).trim().split('\n').pop()
        reject(new Error(`the WAN emulator of ${r.bridge} failed (exit ${code}): ${why}`))
      })
    })
  } catch (err) {
    try {
      if (child.pid) process.kill(child.pid, 'SIGKILL')
    } catch { /* gone already */ }
    throw err
  } finally {
    child.removeAllListeners('exit')
    child.stdout!.destroy()
    child.unref()
  }
  return {...r, wire: {...spec, pid: child.pid!, start: await procStart(child.pid!)}}
}

/** Stop the wire by its PID and remove its links (the tagged rule goes with the network's others). */
export async function stopWire(r: {bridge: string; wire?: RouterPlan['wire']}): Promise<void> {
  const w = r.wire
  if (w?.pid && await wireAlive(r as RouterPlan)) {
    process.kill(w.pid, 'SIGTERM')
    if (!await pollUntil(async () => !pidAlive(w.pid), {timeoutMs: 3000, intervalMs: 20})) process.kill(w.pid, 'SIGKILL')
  }
  // Without a note (a crash before it was written) the links still follow from the bridge, and
  // deleting its TAPs ends a wire that nobody knew the PID of.
  const l = links(r)
  for (const dev of [l.a, l.b, l.local]) await run('ip', ['link', 'del', dev]).catch(() => {})
}

const subnetOf = (r: RouterPlan) => {
  const {base, prefix} = parseSubnet(`${r.inside}/${r.prefix}`, 'lab-subnet')
  return `${ipString(base)}/${prefix}`
}

/** Every router on the same "internet" reaches a routed network through its router, and this one reaches theirs. */
export async function linkRoutes(r: RouterPlan, others: RouterPlan[]): Promise<void> {
  for (const o of others) {
    if (o.publicBridge !== r.publicBridge) continue
    if (o.routed) await run('ip', ['-n', r.netns, 'route', 'replace', subnetOf(o), 'via', o.public]).catch(() => {})
    if (r.routed) await run('ip', ['-n', o.netns, 'route', 'replace', subnetOf(r), 'via', r.public]).catch(() => {})
  }
}

export async function unlinkRoutes(r: RouterPlan, others: RouterPlan[]): Promise<void> {
  if (!r.routed) return
  for (const o of others) await run('ip', ['-n', o.netns, 'route', 'del', subnetOf(r), 'via', r.public]).catch(() => {})
}
