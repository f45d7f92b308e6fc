/**
 * The driver SDK: everything a driver may import from berth. Drivers see the machine through
 * the handle and context berth hands them; the pipeline, the store and SSH sessions stay berth's.
 */
export * from './driver.js'
export * from './leases.js'
export {newInstanceId, seedIso, vmMacs} from './cloudinit/seed.js'
export {UserError, errorMessage} from '../core/index.js'
export {acquireLock, mkdirPrivate, pidAlive, writeFileAtomic} from '../core/index.js'
export {generateKeyPair, sshBanner} from '../ssh/index.js'
