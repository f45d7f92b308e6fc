export * from './remote.js'
export * from './ssh.js'
