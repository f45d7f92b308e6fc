export * from './errors.js'
export * from './fs.js'
export * from './parallel.js'
export * from './poll.js'
