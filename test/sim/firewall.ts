/**
 * A simulated cloud firewall enforced for real: iptables in the VM's own network namespace (the
 * lab host standing in for it), on the interface that holds the VM's private address, as a
 * cloud's host-side filter sees a VM's NIC. The simulators (azure-nsg.ts, openstack-sg.ts) turn
 * their inventory into stages; this file only renders and applies them.
 *
 * A filter is a list of stages per direction. A packet must pass every stage in turn (Azure: the
 * subnet's NSG, then the NIC's): in a stage the first rule that matches decides, RETURN passing
 * the packet on to the next stage and DROP ending it. Past the last stage it is accepted; replies
 * to what was let through are always accepted first (both clouds' filters are stateful).
 * Matching on the VM's side (its private address's interface, inside its namespace) keeps this
 * right when a DNAT router stands between the VM and its public address.
 */
import {spawn} from 'node:child_process'

export interface FwRule {
  action: 'RETURN' | 'DROP'
  /** tcp, udp, icmp or an IP protocol number; any when absent. */
  proto?: string
  /** CIDRs the packet comes from (inbound) / goes to (outbound); any when absent. */
  remote?: string[]
  /** CIDRs of the VM's side (inbound: destination); any when absent. */
  local?: string[]
  /** Destination ports or ranges ("22", "1000:2000"), tcp/udp only; any when absent. */
  ports?: string[]
  /** Source ports or ranges, tcp/udp only; any when absent. */
  sourcePorts?: string[]
  /** Which cloud rule this is (shown by iptables -S, so a blocked path can be traced to it). */
  why?: string
}

export interface HostFilter {
  inbound: FwRule[][]
  outbound: FwRule[][]
}

/** Every rule this file adds to INPUT/OUTPUT carries this comment. */
export const FW_TAG = 'berth-sim-firewall'
const MAX_STAGES = 3
const chain = (dir: 'IN' | 'OUT', stage?: number) => `BERTH-FW-${dir}${stage === undefined ? '' : stage + 1}`

const comment = (s: string) => `-m comment --comment "${s.replace(/["\\]/g, '').slice(0, 250)}"`

function ruleLines(name: string, r: FwRule, dir: 'IN' | 'OUT'): string[] {
  // A list that resolved to nothing (a tag with no addresses yet) matches no packet.
  if (r.remote?.length === 0 || r.local?.length === 0) return []
  const portful = r.proto === 'tcp' || r.proto === 'udp'
  const out: string[] = []
  for (const remote of r.remote ?? [undefined]) {
    for (const local of r.local ?? [undefined]) {
      for (const dport of (portful && r.ports) || [undefined]) {
        for (const sport of (portful && r.sourcePorts) || [undefined]) {
          const parts = [`-A ${name}`]
          if (remote) parts.push(dir === 'IN' ? `-s ${remote}` : `-d ${remote}`)
          if (local) parts.push(dir === 'IN' ? `-d ${local}` : `-s ${local}`)
          if (r.proto) parts.push(`-p ${r.proto}`)
          if (sport) parts.push(`--sport ${sport}`)
          if (dport) parts.push(`--dport ${dport}`)
          if (r.why) parts.push(comment(r.why))
          parts.push(`-j ${r.action}`)
          out.push(parts.join(' '))
        }
      }
    }
  }
  return out
}

/** The iptables-restore text of a filter (--noflush: only berth's chains are rewritten). */
export function renderFilter(f: HostFilter): string {
  const lines = ['*filter']
  for (const dir of ['IN', 'OUT'] as const) {
    lines.push(`:${chain(dir)} - [0:0]`)
    for (let i = 0; i < MAX_STAGES; i++) lines.push(`:${chain(dir, i)} - [0:0]`)
  }
  for (const dir of ['IN', 'OUT'] as const) {
    const stages = dir === 'IN' ? f.inbound : f.outbound
    if (stages.length > MAX_STAGES) throw new Error(`firewall: ${stages.length} stages, at most ${MAX_STAGES}`)
    lines.push(`-F ${chain(dir)}`)
    for (let i = 0; i < MAX_STAGES; i++) lines.push(`-F ${chain(dir, i)}`)
    lines.push(`-A ${chain(dir)} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`)
    stages.forEach((rules, i) => {
      lines.push(`-A ${chain(dir)} -j ${chain(dir, i)}`)
      for (const r of rules) lines.push(...ruleLines(chain(dir, i), r, dir))
    })
    lines.push(`-A ${chain(dir)} -j ACCEPT`)
  }
  lines.push('COMMIT', '')
  return lines.join('\n')
}

function sh(args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(args[0], args.slice(1), {stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', d => (out += d))
    child.stderr.on('data', d => (err += d))
    child.on('error', reject)
    child.on('close', code => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')}: ${err.trim() || `exit ${code}`}`))))
    child.stdin.on('error', () => {})
    child.stdin.end(input)
  })
}

/** The interface of a namespace that holds `ip` (the VM's NIC); eth0 when none does yet. */
async function nicOf(netns: string, ip: string): Promise<string> {
  const out = await sh(['ip', '-n', netns, '-o', '-4', 'addr', 'show']).catch(() => '')
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet\s+([\d.]+)\//.exec(line)
    if (m && m[2] === ip) return m[1].replace(/@.*$/, '')
  }
  return 'eth0'
}

/**
 * Applies filters to hosts, one host at a time each, and only what changed: every API call that
 * could change a rule asks for all hosts again, and most hosts' filters stay the same.
 */
export class HostFirewalls {
  private readonly applied = new Map<string, string>()
  private readonly chains = new Map<string, Promise<void>>()

  constructor(private readonly log?: (line: string) => void) {}

  apply(netns: string, privateIp: string, f: HostFilter): Promise<void> {
    const prev = this.chains.get(netns) ?? Promise.resolve()
    const next = prev.then(() => this.write(netns, privateIp, f)).catch(err => this.log?.(`sim: firewall of ${netns}: ${(err as Error).message}`))
    this.chains.set(netns, next)
    return next
  }

  /** The host is gone (or its namespace was made again): its next filter is written in full. */
  forget(netns: string): void {
    this.applied.delete(netns)
  }

  private async write(netns: string, privateIp: string, f: HostFilter): Promise<void> {
    const dev = await nicOf(netns, privateIp)
    const text = renderFilter(f)
    if (this.applied.get(netns) === `${dev}\n${text}`) return
    const jump = (hook: 'INPUT' | 'OUTPUT', target: string) => {
      const spec = `${hook} ${hook === 'INPUT' ? '-i' : '-o'} ${dev} -m comment --comment ${FW_TAG} -j ${target}`
      return `iptables -w 10 -C ${spec} 2>/dev/null || iptables -w 10 -I ${spec.replace(hook, `${hook} 1`)}`
    }
    // -w: the host's own dockerd edits its tables too.
    await sh(['ip', 'netns', 'exec', netns, 'sh', '-c', `iptables-restore -w 10 --noflush && { ${jump('INPUT', chain('IN'))}; } && { ${jump('OUTPUT', chain('OUT'))}; }`], text)
    this.applied.set(netns, `${dev}\n${text}`)
  }
}
