// The swarm's Docker API endpoint, its routing (pure), and the state file of a running one.
export {ManageEndpoint} from './endpoint.js'
export {withMachine} from './handlers.js'
export {imagePrepare} from './images.js'
export {endpointSans, parseListen} from './listen.js'
export {route, upgradeRoute} from './router.js'
export {clearManageState, readManageState, writeManageState} from './state.js'
