export * from './names.js'
export * from './record.js'
export * from './store.js'
