/**
 * What a lab network needs beyond its bridge: a home router in a namespace of its own (behind
 * NAT, no inbound path) and, for --lab-nat, this box as the hosts' gateway out. Every rule in
 * this box's own namespace carries the bridge's tag, so the last host out removes exactly those.
 */
import {promises as fs} from 'node:fs'
import {run} from './run.js'

export const tagOf = (bridge: string) => `berth-lab-${bridge}`
export const routerNetns = (bridge: string) => `berth-rt-${bridge.slice(3)}`

/** A WAN on a router's public leg, each way (wan.ts): one-way delay, its spread, and the share of packets dropped. */
export interface WanSpec {
  delayMs: number
  jitterMs: number
  lossPct: number
}

export interface RouterPlan {
  netns: string
  /** The router's address on the network it serves: the hosts' default gateway. */
  inside: string
  prefix: number
  bridge: string
  /** Its address on the shared "internet" bridge, where its MASQUERADE makes every host appear. */
  public: string
  publicPrefix: number
  publicBridge: string
  /** No NAT: the network's own addresses are routed, from every other router on the public bridge (wan.ts). */
  routed?: boolean
  /** The WAN emulator spliced into the public leg, and its process. */
  wire?: WanSpec & {pid: number; start: number}
}

/*
 * The router's own firewall, in its namespace: out from the network is allowed and masqueraded,
 * in only what answers it; nothing addressed to the router from outside is taken.
 */
const ROUTER_RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o wan -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i wan -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i wan -j DROP
-A FORWARD -i lan -o wan -j ACCEPT
-A FORWARD -i wan -o lan -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`

/** A routed network's router, as a cloud's or a data centre's: it forwards both ways and hides nothing. */
const ROUTED_RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
`

export async function routerExists(r: {netns: string}): Promise<boolean> {
  return fs.access(`/run/netns/${r.netns}`).then(() => true, () => false)
}

/** Make the router: both legs, its addresses, forwarding and its firewall, in one shell. */
export async function makeRouter(r: RouterPlan): Promise<void> {
  const id = r.bridge.slice(3)
  const script = [
    'set -e',
    `ip netns add ${r.netns}`,
    `ip link add bri${id} type veth peer name lan netns ${r.netns}`,
    `ip link add brp${id} type veth peer name wan netns ${r.netns}`,
    `ip link set bri${id} master ${r.bridge} up`,
    `ip link set brp${id} master ${r.publicBridge} up`,
    `ip -n ${r.netns} -batch - <<'EOF'\naddr add ${r.inside}/${r.prefix} dev lan\naddr add ${r.public}/${r.publicPrefix} dev wan\nlink set lan up\nlink set wan up\nlink set lo up\nEOF`,
    `ip netns exec ${r.netns} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'`,
    `ip netns exec ${r.netns} iptables-restore <<'EOF'\n${r.routed ? ROUTED_RULES : ROUTER_RULES}EOF`,
  ]
  try {
    await run('sh', ['-c', script.join('\n')])
  } catch (err) {
    await dropRouter(r)
    throw err
  }
}

/** Deleting the namespace takes its legs' peers on this box with it. */
export async function dropRouter(r: {netns: string; bridge: string}): Promise<void> {
  await run('ip', ['netns', 'del', r.netns]).catch(() => {})
  for (const leg of ['bri', 'brp']) await run('ip', ['link', 'del', `${leg}${r.bridge.slice(3)}`]).catch(() => {})
}

/*
 * This box routes between its bridges once forwarding is on (--lab-nat turns it on): nothing from
 * another bridge may open a connection into a network behind NAT, as nothing could into a home.
 */
export async function guardNatted(bridge: string): Promise<void> {
  await tagged('filter', ['-I', 'FORWARD', '!', '-i', bridge, '-o', bridge, '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP'], bridge)
}

const FORWARD_FLAG = '/proc/sys/net/ipv4/ip_forward'

/**
 * --lab-nat: the hosts' packets leave through this box with its address (MASQUERADE on this
 * bridge only). Returns whether forwarding had to be turned on here, for the last host to undo.
 */
export async function allowOut(bridge: string, subnet: string): Promise<boolean> {
  await tagged('nat', ['-A', 'POSTROUTING', '-s', subnet, '!', '-o', bridge, '-j', 'MASQUERADE'], bridge)
  // Appended: a network behind NAT guards itself with a rule inserted ahead of this one.
  await tagged('filter', ['-A', 'FORWARD', '-i', bridge, '!', '-o', bridge, '-j', 'ACCEPT'], bridge)
  await tagged('filter', ['-I', 'FORWARD', '-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'], bridge)
  if ((await fs.readFile(FORWARD_FLAG, 'utf8')).trim() === '1') return false
  await fs.writeFile(FORWARD_FLAG, '1\n')
  return true
}

export async function stopForwarding(): Promise<void> {
  await fs.writeFile(FORWARD_FLAG, '0\n').catch(() => {})
}

async function tagged(table: string, rule: string[], bridge: string): Promise<void> {
  await run('iptables', ['-t', table, ...rule, '-m', 'comment', '--comment', tagOf(bridge)])
}

/** Remove every rule in this box's namespace that carries the bridge's tag (and nothing else). */
export async function dropTagged(bridge: string): Promise<void> {
  const tag = `--comment ${tagOf(bridge)}`
  for (const table of ['filter', 'nat']) {
    const rules = await run('iptables', ['-t', table, '-S']).catch(() => '')
    for (const line of rules.split('\n')) {
      if (!line.startsWith('-A ') || !line.includes(tag)) continue
      const words = line.split(/\s+/)
      if (words.at(words.indexOf('--comment') + 1) !== tagOf(bridge)) continue
      await run('iptables', ['-t', table, '-D', ...words.slice(1)]).catch(() => {})
    }
  }
}
