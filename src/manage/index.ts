// The swarm's Docker API endpoint, its routing (pure), and the state file of a running one.
export {ManageEndpoint, type ManageOptions} from './endpoint.js'
export {withMachine} from './handlers.js'
export {endpointSans, parseListen} from './listen.js'
export {route, splitUrl, upgradeRoute, type Route, type UpgradeRoute} from './router.js'
export {clearManageState, manageFile, readManageState, writeManageState, type ManageState} from './state.js'
