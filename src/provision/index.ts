export * from './provision.js'
export * from './registry.js'
