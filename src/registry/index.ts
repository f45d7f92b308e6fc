export {createRegistry, inspectRegistry, listRegistries, removeRegistry, type CreateRegistryOptions, type RegistryRow} from './registry.js'
export {afterHostStart, onHostRemove, registryMarks, trustOnJoin} from './hooks.js'
export type {RegistryRecord} from './records.js'
