/** Machines in and out of a store: a docker-machine store's hosts, and passphrase-encrypted exports. */
export {dockerMachineStorePath, importDockerMachine} from './dockermachine.js'
export {exportMachine, importBundle} from './bundle.js'
