// Public surface of the placement engine: pure functions and an in-memory
// scheduler, no I/O.
export {
  DEFAULT_FILTERS,
  DEFAULT_OVERCOMMIT,
  STRATEGY_NAMES,
  applyPlacement,
  makeNode,
  type ContainerInfo,
  type Dependency,
  type DependencyKind,
  type FilterName,
  type ImageInfo,
  type NodeHealth,
  type NodeInput,
  type Placement,
  type PlacementNode,
  type PlacementRequest,
  type PortInUse,
  type PortRequest,
  type Rule,
  type RuleKind,
  type RuleOp,
  type SchedulerOptions,
  type StrategyName,
} from './model.js'
export {compareCandidates, healthRank, scoreNode, type Score} from './strategies.js'
export {checksFor, hostsContainer, isHealthy, matchesAffinity, matchesConstraint, portInUse, type Check} from './filters.js'
export {
  AFFINITIES_LABEL,
  CONSTRAINTS_LABEL,
  PlacementSyntaxError,
  makeRequest,
  parseContainerConfig,
  parseRule,
  type ContainerConfig,
  type ParsedContainer,
  type RequestInput,
} from './parse.js'
export {PlacementError, explainNoFit, naiveSelect, type Elimination} from './select.js'
export {Scheduler} from './scheduler.js'
