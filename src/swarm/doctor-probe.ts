/**
 * The swarm doctor's real probes, over each member's own SSH session. The far end of every
 * path is a raw-socket listener (perl, present wherever sshd is): it sees a copy of each packet
 * that got through to the host, whatever holds the port — dockerd on 2377 and 7946, the kernel's
 * VXLAN on 4789, or nobody yet before a join — and the source address it arrived from, which is
 * how NAT shows. A firewall that drops a packet on the way or in INPUT keeps it from the listener.
 */
import {randomBytes} from 'node:crypto'
import type {ClientChannel} from 'ssh2'
import {errorMessage, SWARM_PORTS, sleep} from '../core/index.js'
import type {SSHSession} from '../ssh/index.js'

export interface ProbeMember {
  name: string
  /** Where the others are to reach it: its swarm advertise address. */
  address: string
  session: SSHSession
}

/** What one member's listener saw, and what its own attempts to the others said. */
export interface Observed {
  name: string
  /** Its own IPv4 addresses, as it sees itself. */
  own: string[]
  /** Packets that arrived: proto, source, destination, port, and (UDP) the sender named in it. */
  seen: Array<{proto: string; src: string; port: number; from?: string}>
  /** Its TCP attempts to each peer: "connected", "refused" (the SYN got there), or why not. */
  tried: Record<string, string>
  /** Its INPUT rules (iptables -S), to name a rule that drops a port; empty when unreadable. */
  rules: string[]
  error?: string
}

const SNIFFER = `use strict; use Socket;
my ($secs, $nonce, @want) = @ARGV; my %want = map { $_ => 1 } @want;
socket(my $t, PF_INET, SOCK_RAW, 6) or die "raw socket: $!\\n";
socket(my $u, PF_INET, SOCK_RAW, 17) or die "raw socket: $!\\n";
$| = 1; my $end = time + $secs; my %seen;
print "ready\n";
while ((my $left = $end - time) > 0) {
  my $rin = ''; vec($rin, fileno($t), 1) = 1; vec($rin, fileno($u), 1) = 1; vec($rin, fileno(STDIN), 1) = 1;
  my $rout;
  next unless select($rout = $rin, undef, undef, $left) > 0;
  last if vec($rout, fileno(STDIN), 1) && !sysread(STDIN, my $buf, 1);
  for my $s ([$t, 'tcp'], [$u, 'udp']) {
    next unless vec($rout, fileno($s->[0]), 1);
    defined(recv($s->[0], my $pkt, 65535, 0)) or next;
    my $ihl = (ord(substr($pkt, 0, 1)) & 15) * 4;
    my $src = inet_ntoa(substr($pkt, 12, 4));
    my $port = unpack('n', substr($pkt, $ihl + 2, 2));
    next unless $want{"$s->[1]/$port"};
    my $k;
    if ($s->[1] eq 'tcp') {
      my $fl = ord(substr($pkt, $ihl + 13, 1));
      next unless ($fl & 2) && !($fl & 16);
      $k = "seen tcp $src $port";
    } else {
      next unless substr($pkt, $ihl + 8) =~ /^berth-doctor \\Q$nonce\\E (\\S+)/;
      $k = "seen udp $src $port $1";
    }
    print "$k\\n" unless $seen{$k}++;
  }
}
`

/** The sender's side: every port of every peer at once, TCP with a short timeout, UDP three times. */
function senderScript(self: string, nonce: string, peers: ProbeMember[]): string {
  const lines = ['ip -4 -o addr show 2>/dev/null | while read -r _ _ _ a _; do echo "own ${a%/*}"; done']
  for (const p of peers) {
    for (const sp of SWARM_PORTS) {
      const key = `${p.name}/${sp.port}/${sp.proto}`
      if (sp.proto === 'tcp') {
        lines.push(`( err=$(timeout 3 bash -c 'exec 3<>/dev/tcp/${p.address}/${sp.port}' 2>&1); rc=$?; echo "tried ${key} $rc $(echo "$err" | tail -n1 | sed 's/.*: //')" ) &`)
      } else {
        lines.push(`( for i in 1 2 3; do echo -n "berth-doctor ${nonce} ${self}" >/dev/udp/${p.address}/${sp.port}; sleep 0.3; done ) 2>/dev/null &`)
      }
    }
  }
  lines.push('wait', "iptables -S INPUT 2>/dev/null | sed 's/^/rule /'")
  return lines.join('\n') + '\n'
}

function parse(name: string, sniffed: string, sent: string): Observed {
  const o: Observed = {name, own: [], seen: [], tried: {}, rules: []}
  for (const line of `${sniffed}\n${sent}`.split('\n')) {
    const w = line.trim().split(/\s+/)
    if (w[0] === 'own' && w[1] && w[1] !== '127.0.0.1') o.own.push(w[1])
    else if (w[0] === 'seen') o.seen.push({proto: w[1], src: w[2], port: Number(w[3]), ...(w[4] ? {from: w[4]} : {})})
    else if (w[0] === 'tried') o.tried[w[1]] = w[2] === '0' ? 'connected' : /refused/i.test(w.slice(3).join(' ')) ? 'refused' : w[2] === '124' ? 'timed out' : w.slice(3).join(' ') || `exit ${w[2]}`
    else if (w[0] === 'rule') o.rules.push(w.slice(1).join(' '))
  }
  return o
}

/** The script comes on stdin up to a marker; stdin stays open, and its end stops the listener. */
const LOADER = `perl -e '$s = ""; while (<STDIN>) { last if $_ eq "__END__\\n"; $s .= $_ } eval $s; die $@ if $@'`

interface Listener {
  ready: Promise<void>
  stop(): Promise<{code: number; stdout: string; stderr: string}>
}

function listen(session: SSHSession, args: string, windowSec: number): Listener {
  let out = ''
  let err = ''
  let channel: ClientChannel | undefined
  let markReady!: () => void
  let fail!: (e: Error) => void
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve
    fail = reject
  })
  const done = new Promise<{code: number; stdout: string; stderr: string}>(resolve => {
    session.client.exec(session.asRoot(`${LOADER} ${args}`), (e: Error | undefined, stream: ClientChannel) => {
      if (e) {
        fail(e)
        return resolve({code: 255, stdout: '', stderr: e.message})
      }
      channel = stream
      stream.on('data', (d: Buffer) => {
        out += d
        if (out.startsWith('ready\n')) markReady()
      })
      stream.stderr.on('data', (d: Buffer) => (err += d))
      stream.on('close', (code: number | null) => {
        fail(new Error(err.trim().split('\n').pop() || `listener exited (${code})`))
        resolve({code: code ?? 255, stdout: out, stderr: err})
      })
      stream.write(SNIFFER + '__END__\n')
    })
  })
  // A listener that never says ready (no perl, no root) must not hold the doctor.
  const timer = setTimeout(() => fail(new Error(`its listener did not start within ${windowSec} s`)), windowSec * 1000)
  ready.then(() => clearTimeout(timer), () => clearTimeout(timer))
  return {
    ready,
    async stop() {
      channel?.end()
      return done
    },
  }
}

/**
 * Listen on every member, then let every member try every other, then stop the listeners (after
 * a moment for packets still on the wire). Each listener also ends on its own after windowSec.
 */
export async function probe(members: ProbeMember[], opts: {windowSec?: number} = {}): Promise<Observed[]> {
  const nonce = randomBytes(6).toString('hex')
  const window = opts.windowSec ?? 20
  const want = [...new Set(SWARM_PORTS.map(p => `${p.proto}/${p.port}`))].join(' ')
  const listeners = members.map(m => listen(m.session, `${window} ${nonce} ${want}`, window))
  const up = await Promise.allSettled(listeners.map(l => l.ready))
  const senders = await Promise.allSettled(members.map(m => m.session.exec(m.session.asRoot('bash -s'), {stdin: senderScript(m.name, nonce, members.filter(p => p !== m))})))
  await sleep(500)
  const heard = await Promise.all(listeners.map(l => l.stop()))
  return members.map((m, i) => {
    const s = senders[i]
    const o = parse(m.name, heard[i].stdout, s.status === 'fulfilled' ? s.value.stdout : '')
    const u = up[i]
    if (u.status === 'rejected') o.error = errorMessage(u.reason)
    else if (s.status === 'rejected') o.error = `its probes failed: ${errorMessage(s.reason)}`
    return o
  })
}
