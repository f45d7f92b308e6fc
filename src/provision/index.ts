export * from './provision.js'
