import type {DriverFlag} from '../../src/sdk/index.js'

export const description = 'Hosts on this Linux box: network + mount + PID namespaces with their own sshd and dockerd (needs root)'

export const flags: DriverFlag[] = [
  {name: 'lab-subnet', type: 'string', env: 'BERTH_LAB_SUBNET', default: '172.30.77.0/24', description: 'IPv4 subnet of the lab bridge the host joins'},
  {name: 'lab-dir', type: 'string', env: 'BERTH_LAB_DIR', default: '/var/lib/berth-lab', description: 'Folder holding the hosts\' files (Docker data, logs, sshd config)'},
  {name: 'lab-image', type: 'string', env: 'BERTH_LAB_IMAGE', description: 'Root filesystem the host boots on, read-only under an overlay of its own (a folder from "berth lab build-image": Debian without Docker); default: this box\'s'},
]
