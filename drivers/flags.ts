import type {DriverRegistry} from '../src/sdk/index.js'
import * as azure from './azure/flags.js'
import * as generic from './generic/flags.js'
import * as lab from './lab/flags.js'
import * as openstack from './openstack/flags.js'
import * as conoha from './conoha/flags.js'
import * as qemu from './qemu/flags.js'
import * as virtualbox from './virtualbox/flags.js'
import {drivers} from './index.js'

/** Every driver with its flags and description: create's help, and the option readers of create and cluster files. */
export const registry: DriverRegistry = {
  lab: {...lab, ...drivers.lab},
  generic: {...generic, ...drivers.generic},
  openstack: {...openstack, ...drivers.openstack},
  conoha: {...conoha, ...drivers.conoha},
  azure: {...azure, ...drivers.azure},
  qemu: {...qemu, ...drivers.qemu},
  virtualbox: {...virtualbox, ...drivers.virtualbox},
}
