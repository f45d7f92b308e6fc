// Public surface of the placement engine: pure functions and an in-memory
// scheduler, no I/O.
export {
  DEFAULT_FILTERS,
  STRATEGY_NAMES,
  applyPlacement,
  makeNode,
  type ContainerInfo,
  type ImageInfo,
  type NodeInput,
  type Placement,
  type PlacementNode,
  type PlacementRequest,
  type PortInUse,
  type SchedulerOptions,
  type StrategyName,
} from './model.js'
export {healthRank, scoreNode} from './strategies.js'
export {hostsContainer, matchesAffinity, matchesConstraint, portInUse} from './filters.js'
export {
  AFFINITIES_LABEL,
  CONSTRAINTS_LABEL,
  PlacementSyntaxError,
  makeRequest,
  parseContainerConfig,
  parseRule,
  type ContainerConfig,
} from './parse.js'
export {PlacementError, explainNoFit, naiveSelect} from './select.js'
export {Scheduler} from './scheduler.js'
