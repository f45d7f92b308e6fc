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
  lab: {flags: lab.flags, description: lab.description, ...drivers.lab},
  generic: {flags: generic.flags, description: generic.description, ...drivers.generic},
  openstack: {flags: openstack.flags, description: openstack.description, ...drivers.openstack},
  conoha: {flags: conoha.flags, description: conoha.description, ...drivers.conoha},
  azure: {flags: azure.flags, description: azure.description, ...drivers.azure},
  qemu: {flags: qemu.flags, description: qemu.description, ...drivers.qemu},
  virtualbox: {flags: virtualbox.flags, description: virtualbox.description, ...drivers.virtualbox},
}
