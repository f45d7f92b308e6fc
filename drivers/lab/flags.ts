import type {DriverFlag} from '../../src/sdk/index.js'

export const description = 'Hosts on this Linux box: network + mount + PID namespaces with their own sshd and dockerd (needs root)'

export const flags: DriverFlag[] = [
  {name: 'lab-subnet', type: 'string', env: 'BERTH_LAB_SUBNET', description: 'IPv4 subnet of the lab bridge the host joins (default 172.30.77.0/24; a named network keeps the subnet its first host gave it)'},
  {name: 'lab-dir', type: 'string', env: 'BERTH_LAB_DIR', default: '/var/lib/berth-lab', description: 'Folder holding the hosts\' files (Docker data, logs, sshd config)'},
  {name: 'lab-network', type: 'string', description: 'Named lab network (its own bridge and subnet), made by its first host, removed with its last'},
  {name: 'lab-behind-nat', type: 'boolean', description: 'The named network sits behind a home router: out through its MASQUERADE, nothing in from other networks'},
  {name: 'lab-public-subnet', type: 'string', env: 'BERTH_LAB_PUBLIC_SUBNET', default: '172.30.76.0/24', description: 'The shared "internet" subnet where routers of networks behind NAT get their public address'},
  {name: 'lab-nat', type: 'boolean', description: 'A default route through this box (MASQUERADE on the host\'s bridge only), so the host reaches the networks this box reaches'},
  {name: 'lab-wan-delay', type: 'string', description: 'The named network is across a WAN: each packet between it and the other networks waits this long each way (75ms: 150 ms round trip); without --lab-behind-nat its router routes, no NAT'},
  {name: 'lab-wan-jitter', type: 'string', description: 'Spread of --lab-wan-delay, each way (5ms: 70 to 80 ms), without reordering'},
  {name: 'lab-wan-loss', type: 'string', description: 'Share of packets the named network\'s WAN drops, each way (0.5%: about 1 % of pings lost)'},
  {name: 'lab-image', type: 'string', env: 'BERTH_LAB_IMAGE', description: 'Root filesystem the host boots on, read-only under an overlay of its own (a folder from "berth lab build-image": Debian without Docker); default: this box\'s'},
]
