/** Options to configuration: flags, OS_* fallbacks, clouds.yaml, the ConoHa preset, and the checks. */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {tmpDir} from '../helpers.js'
import {conohaTarget, resolveConfig} from '../../drivers/openstack/config.js'
import {flags as openstackFlags} from '../../drivers/openstack/flags.js'
import {flags as conohaFlags} from '../../drivers/conoha/flags.js'

const tmp = () => tmpDir('os-cfg')
const base = {
  'openstack-auth-url': 'https://keystone.example.com:5000/v3', 'openstack-username': 'demo', 'openstack-password': 'pw',
  'openstack-tenant-name': 'demo', 'openstack-flavor-name': 'm1.small', 'openstack-image-name': 'ubuntu',
}
const noEnv = {HOME: '/nonexistent'}

test('flags are docker-machine\'s names with its environment variables; the password is a secret', () => {
  const byName = Object.fromEntries(openstackFlags.map(f => [f.name, f]))
  for (const [flag, env] of [['auth-url', 'OS_AUTH_URL'], ['username', 'OS_USERNAME'], ['password', 'OS_PASSWORD'], ['tenant-name', 'OS_TENANT_NAME'], ['tenant-id', 'OS_TENANT_ID'],
    ['domain-name', 'OS_DOMAIN_NAME'], ['domain-id', 'OS_DOMAIN_ID'], ['region', 'OS_REGION_NAME'], ['flavor-name', 'OS_FLAVOR_NAME'], ['flavor-id', 'OS_FLAVOR_ID'],
    ['image-name', 'OS_IMAGE_NAME'], ['image-id', 'OS_IMAGE_ID'], ['net-name', 'OS_NETWORK_NAME'], ['net-id', 'OS_NETWORK_ID'], ['sec-groups', 'OS_SECURITY_GROUPS'],
    ['floatingip-pool', 'OS_FLOATINGIP_POOL'], ['keypair-name', 'OS_KEYPAIR_NAME'], ['private-key-file', 'OS_PRIVATE_KEY_FILE'], ['ssh-user', 'OS_SSH_USER'],
    ['ssh-port', 'OS_SSH_PORT'], ['user-data-file', 'OS_USER_DATA_FILE'], ['active-timeout', 'OS_ACTIVE_TIMEOUT'], ['cloud', 'OS_CLOUD']]) {
    assert.equal(byName[`openstack-${flag}`]?.env, env, flag)
  }
  assert.ok(byName['openstack-boot-volume-size'] && byName['openstack-volume-type'] && byName['openstack-open-cidr'])
  assert.equal(byName['openstack-password'].secret, true)
  assert.equal(byName['openstack-application-credential-secret'].secret, true)
  assert.equal(byName['openstack-active-timeout'].default, 200)
})

test('the conoha driver has the same options under conoha- names, same env vars, and no floating IPs', () => {
  const byName = Object.fromEntries(conohaFlags.map(f => [f.name, f]))
  assert.equal(byName['conoha-username'].env, 'OS_USERNAME')
  assert.equal(byName['conoha-password'].secret, true)
  assert.equal(byName['conoha-region'].env, 'OS_REGION_NAME')
  assert.equal(byName['conoha-floatingip-pool'], undefined)
  assert.ok(conohaFlags.every(f => f.name.startsWith('conoha-')))
})

test('OS_PROJECT_* and OS_INTERFACE fill in for the docker-machine names', async () => {
  const {'openstack-tenant-name': _t, ...rest} = base
  const c = await resolveConfig(rest, {...noEnv, OS_PROJECT_NAME: 'proj', OS_USER_DOMAIN_NAME: 'Default', OS_INTERFACE: 'internal'})
  assert.equal(c.auth.projectName, 'proj')
  assert.equal(c.auth.userDomainName, 'Default')
  assert.equal(c.interface, 'internal')
  assert.equal((await resolveConfig({...base, 'openstack-endpoint-type': 'adminURL'}, noEnv)).interface, 'admin')
})

test('what is missing or wrong is said before anything is made', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{...base, 'openstack-auth-url': undefined}, /the Keystone URL is missing: set OS_AUTH_URL/],
    [{...base, 'openstack-auth-url': 'keystone:5000'}, /bad --openstack-auth-url "keystone:5000"/],
    [{...base, 'openstack-password': undefined}, /the password is missing: set OS_PASSWORD/],
    [{...base, 'openstack-tenant-name': undefined}, /the project is missing: set OS_TENANT_NAME or OS_TENANT_ID/],
    [{...base, 'openstack-flavor-name': undefined}, /the flavor is missing: pass --openstack-flavor-name or --openstack-flavor-id/],
    [{...base, 'openstack-image-id': 'x'}, /give --openstack-image-name or --openstack-image-id, not both/],
    [{...base, 'openstack-endpoint-type': 'privateURL'}, /bad --openstack-endpoint-type "privateURL"/],
    [{...base, 'openstack-keypair-name': 'mine'}, /--openstack-keypair-name needs --openstack-private-key-file/],
    [{...base, 'openstack-open-cidr': '10.0.0.1'}, /bad --openstack-open-cidr "10.0.0.1"/],
    [{...base, 'openstack-ip-version': 5}, /bad --openstack-ip-version 5/],
    [{...base, 'openstack-volume-type': 'ssd'}, /--openstack-volume-type needs --openstack-boot-volume-size/],
    [{...base, 'openstack-auth-url': 'https://k/v2.0', 'openstack-application-credential-id': 'a', 'openstack-application-credential-secret': 's'}, /application credentials need Keystone v3/],
    [{...base, 'openstack-preset': 'aws'}, /unknown --openstack-preset "aws"/],
  ]
  for (const [o, re] of cases) await assert.rejects(resolveConfig(o, noEnv), re, String(re))
})

test('an application credential needs no password or project', async () => {
  const c = await resolveConfig({'openstack-auth-url': 'https://k/v3', 'openstack-application-credential-id': 'ac', 'openstack-application-credential-secret': 's', 'openstack-flavor-id': '1', 'openstack-image-id': 'i'}, noEnv)
  assert.equal(c.auth.applicationCredentialId, 'ac')
})

test('clouds.yaml from ~/.config/openstack with secure.yaml beside it; flags win', async () => {
  const home = tmp()
  mkdirSync(path.join(home, '.config', 'openstack'), {recursive: true})
  writeFileSync(path.join(home, '.config', 'openstack', 'clouds.yaml'), [
    'clouds:',
    '  lab:',
    '    auth:',
    '      auth_url: http://127.0.0.1:5000',
    '      username: alice',
    '      project_name: team',
    '      user_domain_name: Default',
    '      project_domain_id: default',
    '    region_name: RegionTwo',
    '    interface: internal',
    '    identity_api_version: 3',
    '  old:',
    '    auth: {auth_url: "http://127.0.0.1:5000", username: bob, password: pw, tenant_name: t}',
    '    identity_api_version: 2',
  ].join('\n'))
  writeFileSync(path.join(home, '.config', 'openstack', 'secure.yaml'), 'clouds:\n  lab:\n    auth:\n      password: from-secure-yaml\n')
  const env = {HOME: home}
  const c = await resolveConfig({'openstack-cloud': 'lab', 'openstack-flavor-name': 'f', 'openstack-image-name': 'i'}, env, home)
  assert.equal(c.auth.url, 'http://127.0.0.1:5000')
  assert.equal(c.auth.username, 'alice')
  assert.equal(c.auth.password, 'from-secure-yaml')
  assert.equal(c.auth.projectName, 'team')
  assert.equal(c.auth.projectDomainId, 'default')
  assert.equal(c.region, 'RegionTwo')
  assert.equal(c.interface, 'internal')
  const flagged = await resolveConfig({'openstack-cloud': 'lab', 'openstack-region': 'RegionOne', 'openstack-username': 'carol', 'openstack-flavor-name': 'f', 'openstack-image-name': 'i'}, env, home)
  assert.equal(flagged.region, 'RegionOne')
  assert.equal(flagged.auth.username, 'carol')
  const v2 = await resolveConfig({'openstack-cloud': 'old', 'openstack-flavor-name': 'f', 'openstack-image-name': 'i'}, env, home)
  assert.equal(v2.auth.url, 'http://127.0.0.1:5000/v2.0')
  assert.equal(v2.auth.projectName, 't')
  await assert.rejects(resolveConfig({'openstack-cloud': 'nope', 'openstack-flavor-name': 'f', 'openstack-image-name': 'i'}, env, home), /cloud "nope" is not in .*clouds\.yaml \(it has: lab, old\)/)
})

test('clouds.yaml: ./clouds.yaml comes first; OS_CLIENT_CONFIG_FILE overrides all; none is a clear error', async () => {
  const dir = tmp()
  writeFileSync(path.join(dir, 'clouds.yaml'), 'clouds:\n  here:\n    auth: {auth_url: "http://h/v3", username: u, password: p, project_id: pid}\n')
  const other = path.join(tmp(), 'elsewhere.yaml')
  writeFileSync(other, 'clouds:\n  there:\n    auth: {auth_url: "http://t/v3", username: u, password: p, project_id: pid}\n')
  const o = {'openstack-flavor-name': 'f', 'openstack-image-name': 'i'}
  assert.equal((await resolveConfig({...o, 'openstack-cloud': 'here'}, noEnv, dir)).auth.url, 'http://h/v3')
  assert.equal((await resolveConfig({...o, 'openstack-cloud': 'there'}, {...noEnv, OS_CLIENT_CONFIG_FILE: other}, dir)).auth.projectId, 'pid')
  await assert.rejects(resolveConfig({...o, 'openstack-cloud': 'x'}, noEnv, tmp()), /--openstack-cloud x: no clouds\.yaml in /)
})

test('ConoHa: region decides the API generation and the Keystone URL; an override keeps the quirks', () => {
  assert.deepEqual(conohaTarget('tyo1', undefined), {region: 'tyo1', generation: 'v2', authUrl: 'https://identity.tyo1.conoha.io/v2.0'})
  assert.deepEqual(conohaTarget('c3j1', undefined), {region: 'c3j1', generation: 'v3', authUrl: 'https://identity.c3j1.conoha.io/v3'})
  assert.deepEqual(conohaTarget(undefined, 'https://identity.sin1.conoha.io/v2.0'), {region: 'sin1', generation: 'v2', authUrl: 'https://identity.sin1.conoha.io/v2.0'})
  assert.deepEqual(conohaTarget(undefined, 'http://127.0.0.1:9/v2.0'), {region: 'tyo1', generation: 'v2', authUrl: 'http://127.0.0.1:9/v2.0'})
  assert.equal(conohaTarget(undefined, undefined).region, 'c3j1')
  assert.throws(() => conohaTarget('tyo9', undefined), /unknown ConoHa region "tyo9": use tyo1, sin1 or sjc1 .* or c3j1/)
  assert.throws(() => conohaTarget('c3j1', 'http://127.0.0.1:9/v2.0'), /ConoHa region c3j1 uses Keystone v3, but the auth URL .* is Keystone v2\.0/)
})

test('ConoHa c3j1: boot volume and name tag by default, SSH and Docker opened when no group is given', async () => {
  const o = {'openstack-preset': 'conoha', 'openstack-region': 'c3j1', 'openstack-username': 'u', 'openstack-password': 'p', 'openstack-tenant-id': 't', 'openstack-flavor-name': 'g2l-t-c2m1', 'openstack-image-name': 'vmi-ubuntu-24.04-amd64'}
  const c = await resolveConfig(o, noEnv)
  assert.equal(c.conoha, 'v3')
  assert.deepEqual(c.bootVolume, {size: 100, type: 'c3j1-ds02-boot'})
  assert.equal(c.nameTag, true)
  assert.equal(c.openCidr, '0.0.0.0/0')
  const small = await resolveConfig({...o, 'openstack-flavor-name': 'g2l-t-c1m512', 'openstack-sec-groups': 'IPv4v6-SSH'}, noEnv)
  assert.deepEqual(small.bootVolume, {size: 30, type: 'c3j1-as01-boot'})
  assert.equal(small.openCidr, undefined)
  const ud = path.join(tmp(), 'ud')
  writeFileSync(ud, 'x'.repeat(13 * 1024))
  await assert.rejects(resolveConfig({...o, 'openstack-user-data-file': ud}, noEnv), /ConoHa takes at most 16 KiB of \(base64\) user data/)
  // The same file is fine for plain OpenStack.
  assert.ok((await resolveConfig({...base, 'openstack-user-data-file': ud}, noEnv)).userData)
})

test('ConoHa v2 by URL: the seed\'s OS_* usage turns the preset on with tenant name', async () => {
  const c = await resolveConfig({...base, 'openstack-auth-url': 'https://identity.tyo1.conoha.io/v2.0', 'openstack-flavor-name': 'g-1gb', 'openstack-sec-groups': 'default,gncs-ipv4-all'}, noEnv)
  assert.equal(c.preset, 'conoha')
  assert.equal(c.conoha, 'v2')
  assert.equal(c.region, 'tyo1')
  assert.equal(c.bootVolume, undefined)
  assert.deepEqual(c.secGroups, ['default', 'gncs-ipv4-all'])
})

test('--openstack-private-key-file alone imports its .pub; a missing file is named', async () => {
  const dir = tmp()
  writeFileSync(path.join(dir, 'id'), 'PRIVATE')
  writeFileSync(path.join(dir, 'id.pub'), 'ssh-ed25519 AAAA me\n')
  const c = await resolveConfig({...base, 'openstack-private-key-file': path.join(dir, 'id')}, noEnv)
  assert.equal(c.publicKey, 'ssh-ed25519 AAAA me')
  await assert.rejects(resolveConfig({...base, 'openstack-private-key-file': path.join(dir, 'nope')}, noEnv), /--openstack-private-key-file .*nope: no such file/)
})
