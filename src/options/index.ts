// Turning the user's flags into the core's inputs: driver, engine and swarm options (create, swarm init/join).
export * from './flags.js'
export * from './swarm-flags.js'
export * from './tls-files.js'
