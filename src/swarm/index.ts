export * from './describe.js'
export * from './members.js'
export * from './swarm.js'
export {type DoctorReport, swarmDoctor} from './doctor.js'
