export * from './base.js'
export * from './per-machine.js'
export * from './passphrase.js'
export * from './running.js'
