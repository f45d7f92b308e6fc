/** Cluster as code: a YAML file of machine groups and a swarm, planned and converged (`berth plan|up|down -f`). */
export {clusterJsonSchema} from './schema.js'
export {loadClusterFile, parseClusterFile} from './load.js'
export {resolveOptions} from './options.js'
export {planCluster, summarise} from './plan.js'
export {down, downPlan, planFor, up} from './converge.js'
export {planHeader, planTable} from './show.js'
