import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {metaData, networkConfig, newInstanceId, seedIso, userData, vmMacs, type SeedInput} from '../../src/sdk/localvm/cloudinit/seed.js'
import {buildIso, primaryName} from '../../src/sdk/localvm/cloudinit/iso.js'
import {readIso} from './read-iso.js'
import {tmpDir} from '../helpers.js'

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ8b4w3l2rQ0pX8Yy0M3l0aCkq1b7H1sQe6Jt1u7m4nV berth-node1'
const input: SeedInput = {
  hostname: 'node1', user: 'berth', sshPublicKey: KEY, instanceId: newInstanceId('abcdef012345'),
  nics: [{mac: '52:54:00:12:34:56'}, {mac: '52:54:c0:a8:4c:05', address: '192.168.76.5/24'}],
}

test('user-data: cloud-config with the key for a passwordless sudo user, no passwords, fresh host keys', () => {
  const ud = userData(input)
  assert.ok(ud.startsWith('#cloud-config\n'))
  const cfg = JSON.parse(ud.slice('#cloud-config\n'.length))
  assert.equal(cfg.hostname, 'node1')
  assert.deepEqual(cfg.users[0].ssh_authorized_keys, [KEY])
  assert.equal(cfg.users[0].name, 'berth')
  assert.equal(cfg.users[0].sudo, 'ALL=(ALL) NOPASSWD:ALL')
  assert.equal(cfg.users[0].lock_passwd, true)
  assert.equal(cfg.ssh_pwauth, false)
  assert.equal(cfg.ssh_deletekeys, true)
  assert.equal(cfg.locale, false)
  assert.equal(cfg.package_update, false)
})

test('meta-data: a new instance-id per machine made, the hostname', () => {
  const md = JSON.parse(metaData(input))
  assert.equal(md['local-hostname'], 'node1')
  assert.match(md['instance-id'], /^berth-abcdef012345-[0-9a-f]{8}$/)
  assert.notEqual(newInstanceId('abcdef012345'), newInstanceId('abcdef012345'))
})

test('network-config v2: DHCP on the NAT NIC, the static segment address, both matched by MAC', () => {
  const nc = JSON.parse(networkConfig(input))
  assert.equal(nc.version, 2)
  assert.deepEqual(nc.ethernets.nic0, {match: {macaddress: '52:54:00:12:34:56'}, dhcp4: true})
  assert.deepEqual(nc.ethernets.nic1, {match: {macaddress: '52:54:c0:a8:4c:05'}, dhcp4: false, addresses: ['192.168.76.5/24']})
})

test('the seed ISO reads back: label cidata, the three files under their Joliet names', () => {
  const iso = seedIso(input)
  assert.equal(iso.length % 2048, 0)
  const r = readIso(iso)
  assert.equal(r.volumeId, 'cidata')
  assert.deepEqual(Object.keys(r.files).sort(), ['meta-data', 'network-config', 'user-data'])
  assert.equal(r.files['user-data'].toString(), userData(input))
  assert.equal(r.files['meta-data'].toString(), metaData(input))
  assert.equal(r.files['network-config'].toString(), networkConfig(input))
})

test('blkid sees an iso9660 filesystem labelled cidata (what cloud-init looks for)', (t) => {
  let blkid: string
  const file = path.join(tmpDir('seed'), 'seed.iso')
  writeFileSync(file, seedIso(input))
  try {
    blkid = execFileSync('blkid', ['-p', '-o', 'export', file], {env: {...process.env, PATH: `${process.env.PATH}:/sbin:/usr/sbin`}}).toString()
  } catch {
    t.skip('blkid not available')
    return
  }
  assert.match(blkid, /^TYPE=iso9660$/m)
  assert.match(blkid, /^LABEL=cidata$/m)
})

test('files larger than a sector span sectors; 8.3 names for readers without Joliet stay unique', () => {
  const big = Buffer.alloc(5000, 7)
  const r = readIso(buildIso('TEST', [{name: 'big-file.bin', data: big}, {name: 'a', data: ''}]))
  assert.deepEqual(r.files['big-file.bin'], big)
  assert.equal(r.files.a.length, 0)
  const taken = new Set<string>()
  assert.equal(primaryName('user-data', taken), 'USERDATA.;1')
  assert.equal(primaryName('user-data2', taken), 'USERDAT1.;1')
  assert.equal(primaryName('network-config.json', taken), 'NETWORKC.JSO;1')
})

test('VM MACs: the segment MAC carries the address, the NAT MAC is stable per machine and differs between machines', () => {
  const a = vmMacs('0123456789abcdef', '192.168.76.2/24')
  assert.equal(a.lanMac, '52:54:c0:a8:4c:02')
  assert.deepEqual(vmMacs('0123456789abcdef', '192.168.76.2'), a)
  assert.match(a.natMac, /^52:54(:[0-9a-f]{2}){4}$/)
  assert.notEqual(vmMacs('fedcba9876543210', '192.168.76.2/24').natMac, a.natMac)
})

test('user-data with the user\'s own part: a MIME multipart, theirs first, berth\'s last (its user and key stand); package_update left to them', () => {
  const own = '#cloud-config\npackage_update: true\npackages: [jq]\n'
  const ud = userData({...input, userData: own})
  const boundary = /^Content-Type: multipart\/mixed; boundary="([^"]+)"\nMIME-Version: 1\.0\n\n/.exec(ud)?.[1]
  assert.ok(boundary, ud.slice(0, 200))
  const parts = ud.split(`--${boundary}`).slice(1, -1).map(p => p.replace(/^\n/, ''))
  assert.equal(ud.trimEnd().endsWith(`--${boundary}--`), true)
  assert.equal(parts.length, 2)
  const [theirs, ours] = parts.map(p => ({type: /^Content-Type: ([^;]+);/.exec(p)?.[1], body: p.slice(p.indexOf('\n\n') + 2)}))
  assert.deepEqual(theirs, {type: 'text/cloud-config', body: own})
  assert.equal(ours.type, 'text/cloud-config')
  const cfg = JSON.parse(ours.body.slice('#cloud-config\n'.length))
  assert.deepEqual(cfg.users[0].ssh_authorized_keys, [KEY])
  assert.equal('package_update' in cfg, false, 'berth\'s part does not switch off the user\'s apt')
  assert.match(userData({...input, userData: '#!/bin/sh\necho hi\n'}), /Content-Type: text\/x-shellscript; charset="utf-8"\nMIME-Version: 1\.0\n\n#!\/bin\/sh\necho hi\n/)
  assert.throws(() => userData({...input, userData: 'package_update: true\n'}), /#cloud-config or #!/)
})
