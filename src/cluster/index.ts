// Engine inventory (Cluster), the engine -> placement-node mapping, and the shared create path.
export {Cluster, type ClusterOptions} from './cluster.js'
export {type CreateOptions, type CreateResult} from './create.js'
export {downNode, isActive, nodeHasImage, normalizeImage, ownNames, parseEngineLabels, reservationOf, toNodeInput, type InventoryInput} from './inventory.js'
export {ClusterError, FALLBACK_API_VERSION, FILTERS_TEXT, defaultStrategy, parseStrategy, selectRecords, type Selection} from './selection.js'
export type {Conn, ContainerInspect, ContainerSummary, DownMachine, EngineInfo, ImageSummary, MachineInventory, PortSummary, Reservation, Snapshot} from './shapes.js'
export {bytesSize, clampVersion, compareVersions, parseMemory} from './units.js'
