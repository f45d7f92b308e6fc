import type {DriverFlag} from '../../src/sdk/index.js'
import {flags as openstack} from '../openstack/flags.js'

export const description = 'ConoHa VPS: the openstack driver with ConoHa\'s endpoints and quirks (tyo1/sin1/sjc1 on Keystone v2.0, c3j1 with boot volumes)'

/** OpenStack options that mean nothing on ConoHa (no floating IPs, one catalog interface, no domains). */
const SKIP = new Set(['openstack-preset', 'openstack-cloud', 'openstack-endpoint-type', 'openstack-floatingip-pool', 'openstack-domain-name', 'openstack-domain-id', 'openstack-ip-version',
  'openstack-application-credential-id', 'openstack-application-credential-name', 'openstack-application-credential-secret'])

const DESCRIPTIONS: Record<string, string> = {
  'conoha-auth-url': 'Keystone URL; default from --conoha-region (https://identity.<region>.conoha.io/v2.0 or /v3)',
  'conoha-region': 'Region: tyo1, sin1, sjc1 (VPS v2) or c3j1 (VPS v3); default from the auth URL, else c3j1',
  'conoha-tenant-id': 'Tenant id (the "テナントID" of the API page)',
  'conoha-flavor-name': 'Plan (flavor), e.g. g-1gb (v2) or g2l-t-c2m1 (c3j1)',
  'conoha-image-name': 'Image, e.g. vmi-ubuntu-16.04-amd64-unified (v2) or vmi-ubuntu-24.04-amd64 (c3j1)',
  'conoha-sec-groups': 'Comma-separated security groups, e.g. "default,gncs-ipv4-all" (v2); c3j1 without any: berth opens 22 and 2376',
  'conoha-boot-volume-size': 'Boot volume size in GB (c3j1; default 100, 30 for 512 MB plans)',
  'conoha-volume-type': 'Boot volume type (c3j1; default c3j1-ds02-boot, c3j1-as01-boot for 512 MB plans)',
}

/**
 * The openstack flags under conoha- names, with the same environment variables (OS_USERNAME,
 * OS_PASSWORD, OS_TENANT_ID...): a flag name belongs to one driver, so -d conoha cannot take
 * --openstack-* flags; -d openstack --openstack-preset conoha takes them all.
 */
export const flags: DriverFlag[] = openstack.filter(f => !SKIP.has(f.name)).map(f => {
  const name = f.name.replace(/^openstack-/, 'conoha-')
  return {...f, name, description: DESCRIPTIONS[name] ?? f.description}
})
