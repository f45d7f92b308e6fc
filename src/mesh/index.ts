export {checkMeshSubnet, MESH_DEFAULTS, joinMesh, leaveMesh, meshFor, meshMembers, meshUp, type MeshOptions} from './mesh.js'
export {fitIngress, meshPaths} from './status.js'
export {OVERLAY_MTU} from './scripts.js'
