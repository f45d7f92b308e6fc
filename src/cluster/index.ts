export * from './cluster.js'
