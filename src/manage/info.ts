/** The endpoint's own /version and /info: one engine to the docker CLI, classic Swarm's status inside. */
import {readFileSync} from 'node:fs'
import os from 'node:os'
import {bytesSize, FILTERS_TEXT, type Snapshot} from '../cluster/index.js'
import type {StrategyName} from '../placement/index.js'

export interface About {
  swarm: string
  strategy: StrategyName
  /** The lowest API version the engines speak. */
  apiVersion: string
}

let pkgVersion: string | undefined
/** berth's version from its package.json, read on the first /version or /info, not at load. */
export function berthVersion(): string {
  // dist/src/manage/info.js -> the package root
  pkgVersion ??= (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {version: string}).version
  return pkgVersion
}

function goArch(): string {
  return ({x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386'} as Record<string, string>)[os.arch()] ?? os.arch()
}

export function versionBody(snap: Snapshot, about: About): unknown {
  const version = `berth/${berthVersion()}`
  const details = {ApiVersion: about.apiVersion, MinAPIVersion: '1.24', Os: 'linux', Arch: goArch(), KernelVersion: os.release(), GitCommit: '', GoVersion: `node ${process.version}`, BuildTime: ''}
  return {
    Platform: {Name: `berth swarm manage (${about.swarm}, ${about.strategy})`},
    Components: [
      {Name: 'Engine', Version: version, Details: details},
      ...snap.machines.map(m => ({Name: m.machine, Version: m.info.ServerVersion ?? '', Details: {ApiVersion: m.apiVersion, Address: m.addr}})),
      ...snap.down.map(d => ({Name: d.machine, Version: 'unreachable', Details: {Error: d.error}})),
    ],
    Version: version,
    ...details,
  }
}

export function infoBody(snap: Snapshot, about: About): unknown {
  const status: Array<[string, string]> = [['Role', 'primary'], ['Strategy', about.strategy], ['Filters', FILTERS_TEXT], ['Nodes', String(snap.machines.length + snap.down.length)]]
  let containers = 0
  let running = 0
  let paused = 0
  const imageIds = new Set<string>()
  const rows = [...snap.machines.map(m => ({m, d: undefined})), ...snap.down.map(d => ({m: undefined, d}))]
    .sort((a, b) => (a.m?.machine ?? a.d!.machine).localeCompare(b.m?.machine ?? b.d!.machine))
  for (const {m, d} of rows) {
    if (d) {
      status.push([` ${d.machine}`, d.addr ?? ''], ['  └ Status', 'Unhealthy'], ['  └ Error', d.error])
      continue
    }
    const mm = m!
    const run = mm.containers.filter(c => c.State === 'running').length
    const pau = mm.containers.filter(c => c.State === 'paused').length
    containers += mm.containers.length
    running += run
    paused += pau
    for (const i of mm.images) imageIds.add(i.Id)
    const n = mm.node
    status.push(
      [` ${mm.machine}`, mm.addr],
      ['  └ ID', mm.info.ID ?? ''],
      ['  └ Status', 'Healthy'],
      ['  └ Containers', `${mm.containers.length} (${run} Running, ${pau} Paused, ${mm.containers.length - run - pau} Stopped)`],
      ['  └ Reserved CPUs', `${Number(n.reservedCpus.toFixed(3))} / ${n.cpus}`],
      ['  └ Reserved Memory', `${bytesSize(n.reservedMemory)} / ${bytesSize(n.memory)}`],
      ['  └ Labels', Object.entries(n.labels).filter(([k]) => k !== 'node').sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(', ')],
      ['  └ UpdatedAt', mm.updatedAt.toISOString().replace(/\.\d+Z$/, 'Z')],
      ['  └ ServerVersion', mm.info.ServerVersion ?? ''],
    )
  }
  const sum = (f: (m: Snapshot['machines'][number]) => number) => snap.machines.reduce((a, m) => a + f(m), 0)
  return {
    ID: `berth-${about.swarm}`,
    Name: os.hostname(),
    Containers: containers,
    ContainersRunning: running,
    ContainersPaused: paused,
    ContainersStopped: containers - running - paused,
    Images: imageIds.size,
    Driver: '',
    DriverStatus: null,
    SystemStatus: status,
    Plugins: {Volume: null, Network: null, Authorization: null, Log: null},
    MemoryLimit: true,
    SwapLimit: true,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    IPv4Forwarding: true,
    Debug: false,
    NFd: 0,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: '',
    CgroupDriver: '',
    NEventsListener: 0,
    KernelVersion: os.release(),
    OperatingSystem: `berth swarm manage (${about.swarm})`,
    OSType: 'linux',
    Architecture: os.arch() === 'x64' ? 'x86_64' : os.arch(),
    NCPU: sum(m => m.info.NCPU || 0),
    MemTotal: sum(m => m.info.MemTotal || 0),
    IndexServerAddress: '',
    RegistryConfig: null,
    HttpProxy: '',
    HttpsProxy: '',
    NoProxy: '',
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: `berth/${berthVersion()}`,
    Runtimes: {},
    DefaultRuntime: '',
    Swarm: {NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null},
    LiveRestoreEnabled: false,
    Isolation: '',
    InitBinary: '',
    SecurityOptions: [],
    Warnings: snap.down.map(d => `WARNING: machine ${d.machine} does not answer: ${d.error}`),
  }
}
