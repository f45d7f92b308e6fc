export * from './provision.js'
export * from './registry.js'
export {LOCK_TIMEOUT_SEC, pidFileLockHolder, posixLockHolder, osProvisioner, type OSProvisioner, type UpgradeResult} from './os.js'
