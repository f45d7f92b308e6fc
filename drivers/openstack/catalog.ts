/** The service catalog: which endpoint of which service berth talks to, and with which API version. */
import {OpenStackError} from './errors.js'

export type Interface = 'public' | 'internal' | 'admin'
export type ServiceKind = 'identity' | 'compute' | 'network' | 'image' | 'volume'

/** The API name users know each service by, used in every error message. */
export const API_NAME: Record<ServiceKind, string> = {identity: 'keystone', compute: 'nova', network: 'neutron', image: 'glance', volume: 'cinder'}

/** Catalog types to look for, in order of preference. */
const CATALOG_TYPES: Record<ServiceKind, string[]> = {
  identity: ['identity'],
  compute: ['compute'],
  network: ['network'],
  image: ['image'],
  volume: ['block-storage', 'volumev3', 'volumev2', 'volume'],
}

export interface Endpoint {
  interface: Interface
  region?: string
  url: string
}
export interface CatalogEntry {
  type: string
  name?: string
  endpoints: Endpoint[]
}

/** Keystone URL and version: /v3 and /v2.0 are explicit; a bare URL gets /v3. */
export function identityEndpoint(url: string): {base: string; version: '3' | '2.0'} {
  const u = url.replace(/\/+$/, '')
  if (/\/v2\.0$/.test(u)) return {base: u, version: '2.0'}
  if (/\/v3$/.test(u)) return {base: u, version: '3'}
  return {base: u + '/v3', version: '3'}
}

/** Neutron and Glance catalog entries usually omit the API version; Nova and Cinder include it. */
export function withVersion(kind: ServiceKind, url: string): string {
  const u = url.replace(/\/+$/, '')
  if (kind === 'network' && !/\/v2\.0$/.test(u)) return u + '/v2.0'
  if (kind === 'image' && !/\/v2$/.test(u)) return u + '/v2'
  return u
}

export function normalizeInterface(i: string): Interface | undefined {
  const s = i.replace(/URL$/, '')
  return s === 'public' || s === 'internal' || s === 'admin' ? s : undefined
}

export function endpointFromCatalog(catalog: CatalogEntry[], kind: ServiceKind, iface: Interface, region?: string): string {
  const api = API_NAME[kind]
  for (const type of CATALOG_TYPES[kind]) {
    const services = catalog.filter(s => s.type === type)
    if (!services.length) continue
    const all = services.flatMap(s => s.endpoints).filter(e => e.interface === iface)
    const regions = [...new Set(all.map(e => e.region ?? ''))].filter(Boolean)
    let chosen = all
    if (region) {
      chosen = all.filter(e => e.region === region)
      if (!chosen.length) {
        throw new OpenStackError('keystone', 'catalog', type, undefined, `no ${iface} ${api} endpoint in region "${region}" (regions: ${regions.join(', ') || 'none'}): check --openstack-region`)
      }
    } else if (regions.length > 1) {
      throw new OpenStackError('keystone', 'catalog', type, undefined, `${api} has endpoints in several regions (${regions.join(', ')}): pick one with --openstack-region`)
    }
    if (!chosen.length) {
      const have = [...new Set(services.flatMap(s => s.endpoints).map(e => e.interface))]
      throw new OpenStackError('keystone', 'catalog', type, undefined, `no ${iface} ${api} endpoint (has: ${have.join(', ') || 'none'}): check --openstack-endpoint-type`)
    }
    return withVersion(kind, chosen[0].url)
  }
  throw new OpenStackError('keystone', 'catalog', kind, undefined, `the service catalog has no ${api} (${CATALOG_TYPES[kind].join(' / ')}) service`)
}
