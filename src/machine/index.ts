export * from './dockerenv.js'
export * from './inventory.js'
export * from './lifecycle.js'
export * from '../host/index.js'
