// Engine inventory (Cluster), the engine -> placement-node mapping, and the shared create path.
export {Cluster} from './cluster.js'
export type {Prepare} from './create.js'
export {downNode, isActive, nodeHasImage, normalizeImage, ownNames, parseEngineLabels, reservationOf, toNodeInput} from './inventory.js'
export {ClusterError, FALLBACK_API_VERSION, FILTERS_TEXT, defaultStrategy, parseStrategy} from './selection.js'
export type {Conn, ContainerSummary, EngineInfo, ImageSummary, MachineInventory, Reservation, Snapshot} from './shapes.js'
export {bytesSize, clampVersion, compareVersions, parseMemory} from './units.js'
