// The driver SDK's second entry, for local-VM drivers (qemu, virtualbox): input checks, the boot
// watch and the cloud-init NoCloud seed.
export * from './boot.js'
export {newInstanceId, seedIso, vmMacs} from './cloudinit/seed.js'
