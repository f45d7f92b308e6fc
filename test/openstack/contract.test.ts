/**
 * Contract tests: every official OpenStack sample (copied verbatim into test/fixtures/openstack
 * from ../shared/api-samples/openstack) parses with the schema the client (responses) or the
 * simulator (requests) uses, and the facts berth reads from them come out right.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import type {z} from 'zod'
import * as S from '../../drivers/openstack/schemas.js'
import {endpointFromCatalog, type CatalogEntry} from '../../drivers/openstack/catalog.js'
import {addressesOf, mapState} from '../../drivers/openstack/state.js'
import {fixturesDir, sample, shaped, templates} from '../sim/openstack-shapes.js'

const SCHEMAS: Record<string, z.ZodType> = {
  'keystone/v2.0-tokens-password-request.json': S.V2AuthRequest,
  'keystone/v2.0-tokens-response.json': S.V2TokenResponse,
  'keystone/v3-auth-tokens-password-project-id-request.json': S.V3AuthRequest,
  'keystone/v3-auth-tokens-password-project-name-request.json': S.V3AuthRequest,
  'keystone/v3-auth-tokens-project-scoped-full-catalog-response.json': S.V3TokenResponse,
  'keystone/v3-auth-tokens-project-scoped-response.json': S.V3TokenResponse,
  'nova/flavor-show-response.json': S.FlavorShow,
  'nova/flavors-detail-response.json': S.FlavorList,
  'nova/flavors-list-response.json': S.FlavorList,
  'nova/keypair-create-request.json': S.KeypairCreateRequest,
  'nova/keypair-create-response.json': S.KeypairShow,
  'nova/keypair-import-request.json': S.KeypairCreateRequest,
  'nova/keypair-import-response.json': S.KeypairShow,
  'nova/keypair-import-v2.10-request.json': S.KeypairCreateRequest,
  'nova/keypair-import-v2.10-response.json': S.KeypairShow,
  'nova/keypair-show-response.json': S.KeypairShow,
  'nova/keypairs-list-response.json': S.KeypairList,
  'nova/server-action-os-start-request.json': S.ServerAction,
  'nova/server-action-os-stop-request.json': S.ServerAction,
  'nova/server-create-request.json': S.ServerCreateRequest,
  'nova/server-create-response.json': S.ServerCreateResponse,
  'nova/server-ips-response.json': S.ServerIps,
  'nova/server-show-active-response.json': S.ServerShow,
  'nova/server-show-build-response-legacy.json': S.ServerShow,
  'nova/servers-detail-response.json': S.ServerDetailList,
  'nova/servers-list-response.json': S.ServerList,
  'glance/image-show-response.json': S.Image,
  'glance/images-list-response.json': S.ImageList,
  'neutron/floatingip-create-request.json': S.FloatingIpCreateRequest,
  'neutron/floatingip-create-response.json': S.FloatingIpShow,
  'neutron/floatingip-show-response.json': S.FloatingIpShow,
  'neutron/floatingip-update-associate-request.json': S.FloatingIpUpdateRequest,
  'neutron/floatingips-list-response.json': S.FloatingIpList,
  'neutron/networks-list-response.json': S.NetworkList,
  'neutron/ports-list-response.json': S.PortList,
  'neutron/security-group-create-request.json': S.SecurityGroupCreateRequest,
  'neutron/security-group-create-response.json': S.SecurityGroupShow,
  'neutron/security-group-rule-create-request.json': S.SecurityGroupRuleCreateRequest,
  'neutron/security-group-rule-create-response.json': S.SecurityGroupRuleShow,
  'neutron/security-group-rules-list-response.json': S.SecurityGroupRuleList,
  'neutron/security-groups-list-response.json': S.SecurityGroupList,
  'neutron/subnets-list-response.json': S.SubnetList,
}
/** The two samples that are HTTP transcripts, not JSON bodies. */
const TRANSCRIPTS = ['keystone/v3-auth-tokens-unscoped-response-HTTP.txt', 'neutron/security-group-delete-response-HTTP.txt']

async function allFixtures(): Promise<string[]> {
  const root = fixturesDir()
  const out: string[] = []
  for (const api of await fs.readdir(root)) {
    for (const f of await fs.readdir(path.join(root, api))) out.push(`${api}/${f}`)
  }
  return out.sort()
}

test('every official OpenStack sample has a schema or a transcript check', async () => {
  const files = await allFixtures()
  assert.equal(files.length, 44)
  assert.deepEqual(files, [...Object.keys(SCHEMAS), ...TRANSCRIPTS].sort())
})

test('every JSON sample parses with its schema', () => {
  for (const [file, schema] of Object.entries(SCHEMAS)) {
    const r = schema.safeParse(sample(file))
    assert.ok(r.success, `${file}: ${r.success ? '' : JSON.stringify(r.error.issues[0])}`)
  }
})

test('the fixtures are verbatim copies of ../shared/api-samples/openstack (when present)', async t => {
  const shared = path.resolve(fixturesDir(), '../../../../shared/api-samples/openstack')
  if (!existsSync(shared)) return t.skip('../shared is not here')
  for (const f of await allFixtures()) {
    assert.deepEqual(await fs.readFile(path.join(fixturesDir(), f)), await fs.readFile(path.join(shared, f)), f)
  }
})

test('the HTTP transcripts: Keystone v3 answers 201 with X-Subject-Token; a group delete answers 204', async () => {
  const v3 = await fs.readFile(path.join(fixturesDir(), TRANSCRIPTS[0]), 'utf8')
  assert.match(v3, /^HTTP\/1\.1 201 Created/)
  assert.match(v3, /^X-Subject-Token: [0-9a-f]{32}$/m)
  const del = await fs.readFile(path.join(fixturesDir(), TRANSCRIPTS[1]), 'utf8')
  assert.match(del.trim(), /^status: 204$/)
})

function v3Catalog(): CatalogEntry[] {
  const t = S.V3TokenResponse.parse(sample('keystone/v3-auth-tokens-project-scoped-full-catalog-response.json')).token
  return t.catalog!.map(s => ({type: s.type, name: s.name, endpoints: s.endpoints.map(e => ({interface: e.interface as 'public', region: e.region_id ?? e.region ?? undefined, url: e.url}))}))
}

test('Keystone v3 sample catalog: region and interface select the endpoint; unversioned ones get a version', () => {
  const cat = v3Catalog()
  assert.equal(endpointFromCatalog(cat, 'compute', 'public', 'RegionOne'), 'http://23.253.248.171:8774/v2.1/a6944d763bf64ee6a275f1263fae0352')
  assert.equal(endpointFromCatalog(cat, 'network', 'internal'), 'http://23.253.248.171:9696/v2.0')
  assert.equal(endpointFromCatalog(cat, 'image', 'admin'), 'http://23.253.248.171:9292/v2')
  // No block-storage/volumev3 in this catalog: volumev2 comes next.
  assert.equal(endpointFromCatalog(cat, 'volume', 'public'), 'http://23.253.248.171:8776/v2/a6944d763bf64ee6a275f1263fae0352')
  assert.throws(() => endpointFromCatalog(cat, 'compute', 'public', 'RegionTwo'), /no public nova endpoint in region "RegionTwo" \(regions: RegionOne\)/)
})

test('Keystone v2.0 sample catalog: publicURL, internalURL and adminURL become interfaces', () => {
  const acc = S.V2TokenResponse.parse(sample('keystone/v2.0-tokens-response.json')).access
  assert.equal(acc.token.id, 'aaaaa-bbbbb-ccccc-dddd')
  const cat: CatalogEntry[] = acc.serviceCatalog.map(s => ({type: s.type, endpoints: s.endpoints.flatMap(e => [
    {interface: 'public' as const, region: e.region ?? undefined, url: e.publicURL},
    {interface: 'internal' as const, region: e.region ?? undefined, url: e.internalURL!},
  ])}))
  assert.equal(endpointFromCatalog(cat, 'compute', 'public', 'RegionOne'), 'http://23.253.72.207:8774/v2/fc394f2ab2df4114bde39905f800dc57')
  assert.equal(endpointFromCatalog(cat, 'network', 'public'), 'http://23.253.72.207:9696/v2.0')
  assert.throws(() => endpointFromCatalog(cat, 'compute', 'admin'), /no admin nova endpoint \(has: public, internal\)/)
})

test('server samples: address and state as berth reads them', () => {
  const active = S.ServerShow.parse(sample('nova/server-show-active-response.json')).server
  assert.deepEqual(addressesOf(active, {ipVersion: 4}), {ip: '192.168.1.30', all: ['192.168.1.30']})
  assert.equal(mapState(active), 'Running')
  // The 2013 BUILD sample has no OS-EXT-* fields and untyped addresses.
  const build = S.ServerShow.parse(sample('nova/server-show-build-response-legacy.json')).server
  assert.equal(mapState(build), 'Starting')
  assert.equal(build['OS-EXT-STS:power_state'], undefined)
  assert.equal(addressesOf(build, {ipVersion: 4}).ip, '67.23.10.132')
  assert.equal(addressesOf(build, {ipVersion: 6}).ip, '::babe:67.23.10.132')
  assert.equal(mapState({...active, status: 'SHUTOFF', 'OS-EXT-STS:power_state': 4}), 'Stopped')
  assert.equal(mapState({...active, 'OS-EXT-STS:task_state': 'powering-off'}), 'Stopping')
  assert.equal(mapState({...active, status: 'ERROR'}), 'Error')
  assert.equal(mapState(undefined), 'NotFound')
})

test('a floating IP in front of the fixed address: the fixed one is recorded as the private one, with its network', () => {
  const active = S.ServerShow.parse(sample('nova/server-show-active-response.json')).server
  const [net, list] = Object.entries(active.addresses)[0]
  const floating = {...list[0], addr: '203.0.113.9', 'OS-EXT-IPS:type': 'floating'}
  const withFip = {...active, addresses: {[net]: [...list, floating]}}
  assert.deepEqual(addressesOf(withFip, {ipVersion: 4}), {ip: '203.0.113.9', all: ['192.168.1.30', '203.0.113.9'], privateIp: '192.168.1.30', network: net})
  // One address (a ConoHa server on ext-*): it is the public one, no private one.
  assert.equal(addressesOf(active, {ipVersion: 4}).privateIp, undefined)
})

test('Neutron samples: a rule request may carry port numbers as strings; rule answers carry integers', () => {
  const req = S.SecurityGroupRuleCreateRequest.parse(sample('neutron/security-group-rule-create-request.json'))
  assert.equal(req.security_group_rule.port_range_min, '80')
  const res = S.SecurityGroupRuleShow.parse(sample('neutron/security-group-rule-create-response.json'))
  assert.equal(res.security_group_rule.port_range_min, 80)
  const fips = S.FloatingIpList.parse(sample('neutron/floatingips-list-response.json')).floatingips
  assert.deepEqual(fips.map(f => f.port_id), ['ce705c24-c1ef-408a-bda3-7bbd946164ab', null, null])
})

test('the simulator builds its answers from the samples and refuses keys they lack', () => {
  const s = shaped(templates.server(), {status: 'BUILD', id: 'x'})
  assert.ok(S.ServerShow.safeParse({server: s}).success)
  assert.throws(() => shaped(templates.server(), {not_in_sample: 1}), /not in the official sample/)
  assert.ok(S.SecurityGroupShow.safeParse({security_group: templates.securityGroup()}).success)
  assert.ok(S.FloatingIpShow.safeParse({floatingip: templates.floatingIp()}).success)
  // A schema that is too loose would let this through.
  assert.equal(S.ServerShow.safeParse({server: {...s, status: undefined}}).success, false)
  assert.equal(S.V3TokenResponse.safeParse({token: {}}).success, false)
})
