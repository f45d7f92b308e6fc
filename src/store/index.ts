export * from './names.js'
// Types only: the schemas (and zod) load when a record is validated, never for ls's cached records.
export type {EngineOptions, MachineRecord, MeshMembership, SwarmMembership} from './record.js'
export * from './store.js'
export {ensureGroup, type GroupRecord, loadGroup, removeGroup} from './groups.js'
export {migrateRecord, SCHEMA_VERSION} from './migrate.js'
export {ENGINE_DEFAULTS} from './defaults.js'
/** The zod schemas of the record, loaded on demand (e.g. to fill an EngineOptions' defaults). */
export const recordSchemas = () => import('./record.js')
