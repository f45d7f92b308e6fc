import type {Driver} from '../../src/sdk/index.js'
import {makeDriver, type OpenStackData, type OpenStackSecrets} from '../openstack/driver.js'

/** The openstack driver with the conoha preset: conoha-* options become openstack-* ones. */
const base = makeDriver('conoha')

const driver: Driver<OpenStackData, OpenStackSecrets> = {
  ...base,
  async preCreate(options, ctx) {
    const mapped: Record<string, unknown> = {'openstack-preset': 'conoha'}
    for (const [k, v] of Object.entries(options)) mapped[k.replace(/^conoha-/, 'openstack-')] = v
    return base.preCreate(mapped, ctx)
  },
}

export default driver
