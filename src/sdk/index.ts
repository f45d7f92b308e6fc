/**
 * The driver SDK: everything a driver may import from berth. Drivers see the machine through
 * the handle and context berth hands them; the pipeline, the store and SSH sessions stay berth's.
 */
export * from './driver.js'
export * from './leases.js'
export * from './ledger.js'
export * from './localvm.js'
export {which} from './which.js'
export {newInstanceId, seedIso, vmMacs} from './cloudinit/seed.js'
export {UserError, errorMessage} from '../core/index.js'
export {acquireLock, mkdirPrivate, pidAlive, writeFileAtomic} from '../core/index.js'
export {poll, pollUntil, sleep, type PollOptions} from '../core/index.js'
export {ipNumber, ipString, maskOf, parseCidr, type Cidr} from '../core/index.js'
export {ENGINE_PORT, SWARM_PORTS, type SwarmPort} from '../core/index.js'
export {generateKeyPair, sshBanner} from '../ssh/index.js'
