export * from './store.js'
export * from './names.js'
// Types only: the zod schema loads when a record is validated (ls served from the cache never pays for it).
export type {EngineOptions, MachineRecord, SwarmMembership} from './record.js'
