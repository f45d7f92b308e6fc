export * from './swarm.js'
