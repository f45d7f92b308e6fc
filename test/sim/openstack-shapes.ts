/**
 * Response bodies of the OpenStack simulator, each made from the matching official sample
 * (test/fixtures/openstack): the sample is cloned and only keys it already has are replaced,
 * so the simulator cannot drift from the documented shapes.
 */
import {readFileSync, existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** test/fixtures/openstack, found from this file whether it runs from test/ or dist/test/. */
export function fixturesDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'test', 'fixtures', 'openstack')
    if (existsSync(p)) return p
    dir = path.dirname(dir)
  }
  throw new Error('test/fixtures/openstack not found above ' + fileURLToPath(import.meta.url))
}

const cache = new Map<string, any>()
export function sample(rel: string): any {
  if (!cache.has(rel)) cache.set(rel, JSON.parse(readFileSync(path.join(fixturesDir(), rel), 'utf8')))
  return structuredClone(cache.get(rel))
}

/** Clone `template` and set `values`; a key the template lacks is a bug unless listed in `extra`. */
export function shaped<T extends Record<string, any>>(template: T, values: Record<string, unknown>, extra: string[] = []): T {
  const out: Record<string, any> = structuredClone(template)
  for (const [k, v] of Object.entries(values)) {
    if (!(k in out) && !extra.includes(k)) throw new Error(`simulator: key "${k}" is not in the official sample`)
    out[k] = v
  }
  return out as T
}

export const iso = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')

export const templates = {
  v3Token: () => sample('keystone/v3-auth-tokens-project-scoped-full-catalog-response.json').token,
  v2Access: () => sample('keystone/v2.0-tokens-response.json').access,
  flavor: () => sample('nova/flavor-show-response.json').flavor,
  flavorBrief: () => sample('nova/flavors-list-response.json').flavors[0],
  server: () => sample('nova/server-show-active-response.json').server,
  serverBrief: () => sample('nova/servers-list-response.json').servers[0],
  serverCreated: () => sample('nova/server-create-response.json').server,
  keypairImported: () => sample('nova/keypair-import-response.json').keypair,
  keypairShow: () => sample('nova/keypair-show-response.json').keypair,
  keypairListed: () => sample('nova/keypairs-list-response.json').keypairs[0].keypair,
  image: () => sample('glance/image-show-response.json'),
  network: () => sample('neutron/networks-list-response.json').networks[0],
  subnet: () => sample('neutron/subnets-list-response.json').subnets[0],
  port: () => sample('neutron/ports-list-response.json').ports[0],
  securityGroup: () => sample('neutron/security-groups-list-response.json').security_groups[0],
  rule: () => sample('neutron/security-group-rule-create-response.json').security_group_rule,
  floatingIp: () => sample('neutron/floatingip-show-response.json').floatingip,
}
