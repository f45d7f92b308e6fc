/**
 * docker-machine's shapes for templates and inspect: its ls HostListItem and its host JSON
 * (libmachine/host: Name, DriverName, Driver.*, HostOptions.EngineOptions/SwarmOptions/AuthOptions).
 */
import path from 'node:path'
import type {MachineRecord} from '../store/index.js'
import type {MachineRow} from '../machine/index.js'

/** Go's time.Duration String() for whole milliseconds: 12ms, 1.5s. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`
  return `${Number((ms / 1000).toFixed(3))}s`
}

/** ls --format's fields, with their table headers (docker-machine's headers map). */
export const LS_HEADERS: Record<string, string> = {
  Name: 'NAME', Active: 'ACTIVE', ActiveHost: 'ACTIVE_HOST', ActiveSwarm: 'ACTIVE_SWARM', DriverName: 'DRIVER',
  State: 'STATE', URL: 'URL', SwarmOptions: 'SWARM_OPTIONS', Swarm: 'SWARM', EngineOptions: 'ENGINE_OPTIONS',
  Error: 'ERRORS', DockerVersion: 'DOCKER', ResponseTime: 'RESPONSE',
}

export function lsItem(r: MachineRow): Record<string, unknown> {
  const manager = / \(manager\)$/.test(r.swarm)
  return {
    Name: r.name, Active: r.active ? '*' : '-', ActiveHost: r.active, ActiveSwarm: false, DriverName: r.driver,
    State: r.state, URL: r.url, Swarm: r.swarm, Error: r.error, DockerVersion: r.docker || 'Unknown',
    ResponseTime: goDuration(r.responseTimeMs),
    SwarmOptions: {IsSwarm: Boolean(r.swarm), Master: manager, Name: r.swarm.replace(/ \(manager\)$/, '')},
    EngineOptions: {Labels: r.labels},
  }
}

export interface InspectFacts {
  ip?: string
  ssh?: {host: string; port: number; user: string; keyPath?: string}
  storePath: string
  state: string
  stateError?: string
}

/** What inspect prints: docker-machine's host JSON first, berth's record beside it. */
export function inspectShape(rec: MachineRecord, facts: InspectFacts): Record<string, unknown> {
  const dir = path.join(facts.storePath, 'machines', rec.name)
  const certs = path.join(facts.storePath, 'certs')
  const e = rec.engine
  return {
    ConfigVersion: 3,
    Driver: {
      IPAddress: facts.ip ?? '', MachineName: rec.name, SSHUser: facts.ssh?.user ?? '', SSHPort: facts.ssh?.port ?? 0,
      SSHKeyPath: facts.ssh?.keyPath ?? rec.ssh.keyPath ?? '', StorePath: facts.storePath,
      SwarmMaster: Boolean(rec.swarm?.manager), SwarmHost: '', SwarmDiscovery: '',
      ...rec.driverData,
    },
    DriverName: rec.driver,
    HostOptions: {
      Driver: '', Memory: 0, Disk: 0,
      EngineOptions: {
        ArbitraryFlags: e.opts, Dns: null, GraphDir: '', Env: e.env, Ipv6: false, InsecureRegistry: e.insecureRegistries,
        Labels: e.labels, LogLevel: '', StorageDriver: e.storageDriver ?? '', SelinuxEnabled: false, TlsVerify: true,
        RegistryMirror: e.registryMirrors, InstallURL: e.installUrl,
      },
      SwarmOptions: {
        IsSwarm: Boolean(rec.swarm), Address: rec.swarm?.advertiseAddr ?? '', Discovery: '', Agent: Boolean(rec.swarm),
        Master: Boolean(rec.swarm?.manager), Host: '', Image: '', Strategy: rec.swarm?.strategy ?? 'spread', Heartbeat: 0,
        Overcommit: 0, ArbitraryFlags: [], ArbitraryJoinFlags: [], Env: null, IsExperimental: false,
      },
      AuthOptions: {
        CertDir: certs, CaCertPath: path.join(certs, 'ca.pem'), CaPrivateKeyPath: path.join(certs, 'ca-key.pem'),
        CaCertRemotePath: '', ServerCertPath: path.join(dir, 'server.pem'), ServerKeyPath: path.join(dir, 'server-key.pem'),
        ClientKeyPath: path.join(certs, 'key.pem'), ServerCertRemotePath: '', ServerKeyRemotePath: '',
        ClientCertPath: path.join(certs, 'cert.pem'), ServerCertSANs: e.tlsSans, StorePath: dir,
      },
    },
    Name: rec.name,
    ...rec,
    state: facts.state,
    ...(facts.stateError ? {stateError: facts.stateError} : {}),
    storePath: dir,
  }
}
