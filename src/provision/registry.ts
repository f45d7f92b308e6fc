/**
 * What an engine needs to use a store registry: its CA under certs.d (so push and pull need no
 * insecure-registry) and, for a pull-through cache, an entry in daemon.json's registry-mirrors.
 */
import {shellQuote, type SSHSession} from '../ssh/index.js'
import {REMOTE_DIR} from './provision.js'

const certsDir = (address: string) => `${REMOTE_DIR}/certs.d/${address}`

export async function trustRegistry(s: SSHSession, address: string, caPem: string): Promise<void> {
  await s.run(`mkdir -p ${shellQuote(certsDir(address))}`, {root: true, what: `certs.d for ${address}`})
  await s.writeFile(`${certsDir(address)}/ca.crt`, caPem, 0o644)
}

export async function untrustRegistry(s: SSHSession, address: string): Promise<void> {
  await s.run(`rm -rf ${shellQuote(certsDir(address))}`, {root: true, what: `remove certs.d of ${address}`})
}

/**
 * Rewrite daemon.json's registry-mirrors and have dockerd reload it (SIGHUP: running containers
 * and the swarm stay up, as a restart would not let them).
 */
export async function setRegistryMirrors(s: SSHSession, mirrors: string[]): Promise<void> {
  const file = `${REMOTE_DIR}/daemon.json`
  const cfg = JSON.parse((await s.readFile(file)).toString()) as Record<string, unknown>
  // An empty list rather than no key: a reload leaves options absent from the file as they were.
  cfg['registry-mirrors'] = mirrors
  await s.writeFile(file, JSON.stringify(cfg, null, 2) + '\n', 0o644)
  await s.run('if [ -d /run/systemd/system ]; then systemctl reload docker; else kill -HUP "$(cat /var/run/docker.pid)"; fi', {root: true, what: 'reload dockerd'})
}
