import type {DriverFlag} from '../../src/sdk/index.js'

export const description = 'Any machine reachable over SSH (berth installs and secures Docker on it)'

export const flags: DriverFlag[] = [
  {name: 'generic-ip-address', type: 'string', env: 'GENERIC_IP_ADDRESS', description: 'IP address or host name of the machine'},
  {name: 'generic-ssh-user', type: 'string', env: 'GENERIC_SSH_USER', default: 'root', description: 'SSH user (non-root users need passwordless sudo)'},
  {name: 'generic-ssh-key', type: 'string', env: 'GENERIC_SSH_KEY', description: 'Private key file; default: the SSH agent, else ~/.ssh/id_ed25519 or id_rsa'},
  {name: 'generic-ssh-port', type: 'integer', env: 'GENERIC_SSH_PORT', default: 22, description: 'SSH port'},
  {name: 'generic-engine-port', type: 'integer', env: 'GENERIC_ENGINE_PORT', default: 2376, description: 'Port the Docker engine listens on (TLS)'},
]
