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
export {CloudApiError, UserError, errorMessage} from '../core/index.js'
export {acquireLock, mkdirPrivate, pidAlive, writeFileAtomic} from '../core/index.js'
export {poll, pollUntil, sleep} from '../core/index.js'
export {ipString, maskOf, parseCidr, type Cidr} from '../core/index.js'
export {ENGINE_PORT, SWARM_PORTS} from '../core/index.js'
export {generateKeyPair} from '../ssh/index.js'
