/**
 * The driver SDK: everything a driver may import from berth. Drivers see the machine through
 * the handle and context berth hands them; the pipeline, the store and SSH sessions stay berth's.
 * What only local-VM drivers need (boot watch, image checks, the cloud-init seed) is the second
 * entry, ./localvm/index.ts, so that other drivers (and every `ls`) do not load it.
 */
export type * from './driver.js'
export * from './leases.js'
export * from './ledger.js'
export {which} from './which.js'
export {CloudApiError, UserError, errorMessage} from '../core/index.js'
export {acquireLock, mkdirPrivate, pidAlive, writeFileAtomic} from '../core/index.js'
export {Pacer, poll, pollUntil, sleep} from '../core/index.js'
export {ipString, maskOf, parseCidr, type Cidr} from '../core/index.js'
export {ENGINE_PORT} from '../core/index.js'
export {generateKeyPair} from '../ssh/index.js'
