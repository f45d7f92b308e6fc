import type {DriverFlag} from '../../src/sdk/index.js'

export const description = 'Local VirtualBox VMs from a cloud image, set up by cloud-init (NAT for SSH, host-only network for the engine and swarm)'

export const flags: DriverFlag[] = [
  {name: 'virtualbox-image', type: 'string', env: 'BERTH_VIRTUALBOX_IMAGE', description: 'Cloud image to clone for each VM (vmdk, vdi, vhd, raw; qcow2 when qemu-img is installed)'},
  {name: 'virtualbox-memory', type: 'integer', env: 'VIRTUALBOX_MEMORY_SIZE', default: 1024, description: 'Memory of the VM in MB'},
  {name: 'virtualbox-cpu-count', type: 'integer', env: 'VIRTUALBOX_CPU_COUNT', default: 1, description: 'Virtual CPUs'},
  {name: 'virtualbox-disk-size', type: 'integer', env: 'VIRTUALBOX_DISK_SIZE', default: 20000, description: 'Disk size in MB (the clone grows to it; cloud-init grows the root partition)'},
  {name: 'virtualbox-hostonly-cidr', type: 'string', env: 'VIRTUALBOX_HOSTONLY_CIDR', default: '192.168.56.1/24', description: 'Host address and network of the host-only adapter the VMs share (VirtualBox 6.1.28+ allows 192.168.56.0/21 unless /etc/vbox/networks.conf says more)'},
  {name: 'virtualbox-ostype', type: 'string', env: 'VIRTUALBOX_OSTYPE', default: 'Debian_64', description: 'VirtualBox guest OS type (VBoxManage list ostypes)'},
]
