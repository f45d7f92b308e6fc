import type {DriverFlag} from '../../src/sdk/index.js'

export const description = 'Local QEMU virtual machines (KVM when the CPU has it, TCG otherwise), set up by cloud-init'

export const flags: DriverFlag[] = [
  {name: 'qemu-image', type: 'string', env: 'BERTH_QEMU_IMAGE', description: 'Base disk image (raw or qcow2; a cloud image, or one from "berth qemu build-image"); never modified, each machine gets a thin overlay'},
  {name: 'qemu-memory', type: 'integer', env: 'BERTH_QEMU_MEMORY', default: 2048, description: 'Memory of the VM in MB'},
  {name: 'qemu-cpus', type: 'integer', env: 'BERTH_QEMU_CPUS', default: 2, description: 'Virtual CPUs'},
  {name: 'qemu-disk-size', type: 'string', env: 'BERTH_QEMU_DISK_SIZE', default: '20G', description: 'Disk size of the VM (thin: only what the VM writes takes space)'},
  {name: 'qemu-accel', type: 'string', env: 'BERTH_QEMU_ACCEL', default: 'auto', description: 'auto (KVM when usable, else TCG), kvm or tcg'},
  {name: 'qemu-cpu-model', type: 'string', env: 'BERTH_QEMU_CPU_MODEL', default: 'auto', description: 'QEMU -cpu model; auto: host under KVM, Nehalem (x86-64-v2, emulated fastest) under TCG'},
  {name: 'qemu-subnet', type: 'string', env: 'BERTH_QEMU_SUBNET', default: '192.168.76.0/24', description: 'Network the store\'s VMs share (their swarm addresses)'},
  {name: 'qemu-restrict', type: 'boolean', env: 'BERTH_QEMU_RESTRICT', default: false, description: 'Cut the VM off from every network beyond its forwarded ports and its segment (no downloads)'},
  {name: 'qemu-guestfwd', type: 'strings', env: 'BERTH_QEMU_GUESTFWD', description: 'Forward a guest address to one on this host, GUEST_IP:PORT=HOST_IP:PORT (QEMU guestfwd; works under --qemu-restrict, e.g. 10.0.2.100:3142=127.0.0.1:3142 for an apt proxy given as --engine-install-proxy http://10.0.2.100:3142); repeatable'},
  {name: 'qemu-user-data-file', type: 'string', env: 'BERTH_QEMU_USER_DATA_FILE', description: 'Your own cloud-init user data (#cloud-config, e.g. package_update and packages, or a #! script), run at first boot beside berth\'s (whose user, key and hostname stand); apt and runcmd run only on images whose cloud-init runs its config and final stages (build-image --without-docker, cloud images)'},
  {name: 'qemu-binary', type: 'string', env: 'BERTH_QEMU_BINARY', default: 'qemu-system-x86_64', description: 'QEMU system emulator to run'},
]
