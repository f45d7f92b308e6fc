/** The simulators' firewalls as iptables text: Azure NSGs (stages, priorities, tags, defaults) and Neutron security groups. */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {renderFilter} from './firewall.js'
import {defaultSecurityRules, nsgFilter} from './azure-nsg.js'
import {securityGroupFilter, type SgRule} from './openstack-sg.js'

const VNET = '/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v'
const nic = (name: string, ip: string, nsg?: string) => ({
  id: `/x/networkInterfaces/${name}`, type: 'Microsoft.Network/networkInterfaces',
  properties: {...(nsg ? {networkSecurityGroup: {id: nsg}} : {}), ipConfigurations: [{properties: {privateIPAddress: ip, subnet: {id: `${VNET}/subnets/s1`}}}]},
})
const rule = (name: string, priority: number, access: string, p: Record<string, unknown>) => ({name, properties: {priority, access, direction: 'Inbound', protocol: 'Tcp', sourcePortRange: '*', destinationAddressPrefix: '*', ...p}})

test('an NSG: rules by priority, first match decides, VirtualNetwork is the vnet and its NICs, the defaults last', () => {
  const nsg = {id: '/x/nsg1', type: 'Microsoft.Network/networkSecurityGroups', properties: {
    securityRules: [
      rule('late-allow', 2000, 'Allow', {sourceAddressPrefix: '*', destinationPortRange: '80'}),
      rule('peers', 1000, 'Allow', {sourceAddressPrefixes: ['198.51.100.7', '198.51.100.8'], destinationPortRange: '7946'}),
      rule('deny-web', 1500, 'Deny', {sourceAddressPrefix: 'Internet', destinationPortRange: '80-81'}),
      {name: 'esp', properties: {priority: 1100, access: 'Allow', direction: 'Inbound', protocol: 'Esp', sourceAddressPrefix: '198.51.100.7', destinationAddressPrefix: '*'}},
    ],
    defaultSecurityRules: defaultSecurityRules(),
  }}
  const vnet = {id: VNET, type: 'Microsoft.Network/virtualNetworks', properties: {addressSpace: {addressPrefixes: ['10.1.0.0/16']}, subnets: [{name: 's1', properties: {}}]}}
  const me = nic('n1', '172.30.215.5', nsg.id)
  const other = nic('n2', '172.30.215.6')
  const byId = new Map([nsg, vnet, me, other].map(r => [r.id.toLowerCase(), r]))
  const f = nsgFilter(me, id => byId.get(id.toLowerCase()), byId.values())
  assert.equal(f.inbound.length, 1)
  const text = renderFilter(f)
  const lines = text.split('\n').filter(l => l.startsWith('-A BERTH-FW-IN1 ')).map(l => l.replace(/ -m comment --comment "[^"]*"/, ''))
  assert.deepEqual(lines.slice(0, 5), [
    '-A BERTH-FW-IN1 -s 198.51.100.7 -p tcp --dport 7946 -j RETURN',
    '-A BERTH-FW-IN1 -s 198.51.100.8 -p tcp --dport 7946 -j RETURN',
    '-A BERTH-FW-IN1 -s 198.51.100.7 -p 50 -j RETURN',
    '-A BERTH-FW-IN1 -p tcp --dport 80:81 -j DROP',
    '-A BERTH-FW-IN1 -p tcp --dport 80 -j RETURN',
  ])
  // AllowVnetInBound: the vnet's space and every NIC's private address in it, both ways round.
  assert.ok(lines.includes('-A BERTH-FW-IN1 -s 172.30.215.6/32 -d 172.30.215.5/32 -j RETURN'))
  assert.ok(lines.includes('-A BERTH-FW-IN1 -s 168.63.129.16/32 -j RETURN'))
  assert.equal(lines.at(-1), '-A BERTH-FW-IN1 -j DROP')
  // Replies to what got in always pass; past the stages, accepted.
  assert.match(text, /-A BERTH-FW-IN -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n-A BERTH-FW-IN -j BERTH-FW-IN1\n/)
  // No NSG anywhere: open, as in Azure.
  assert.deepEqual(nsgFilter(other, id => byId.get(id.toLowerCase()), byId.values()), {inbound: [], outbound: []})
})

test('security groups: allow lists per direction, remote groups expanded to their members, IPv6 rules left to ip6tables', () => {
  const r = (p: Partial<SgRule>): SgRule => ({id: 'r', groupId: 'g1', direction: 'ingress', ethertype: 'IPv4', protocol: null, min: null, max: null, prefix: null, remoteGroupId: null, ...p})
  const rules = [
    r({id: 'ssh', protocol: 'tcp', min: 22, max: 22, prefix: '0.0.0.0/0'}),
    r({id: 'mates', remoteGroupId: 'g1'}),
    r({id: 'range', protocol: 'udp', min: 1000, max: 2000, prefix: '203.0.113.0/24'}),
    r({id: 'v6', ethertype: 'IPv6'}),
    r({id: 'other-group', groupId: 'g2', protocol: 'tcp', min: 80, max: 80}),
    r({id: 'out', direction: 'egress'}),
  ]
  const f = securityGroupFilter(['g1'], rules, g => (g === 'g1' ? ['172.30.215.2', '172.30.215.9'] : []))
  const lines = renderFilter(f).split('\n').filter(l => /^-A BERTH-FW-(IN|OUT)1 /.test(l)).map(l => l.replace(/ -m comment --comment "[^"]*"/, ''))
  assert.deepEqual(lines, [
    '-A BERTH-FW-IN1 -p tcp --dport 22 -j RETURN',
    '-A BERTH-FW-IN1 -s 172.30.215.2 -j RETURN',
    '-A BERTH-FW-IN1 -s 172.30.215.9 -j RETURN',
    '-A BERTH-FW-IN1 -s 203.0.113.0/24 -p udp --dport 1000:2000 -j RETURN',
    '-A BERTH-FW-IN1 -j DROP',
    '-A BERTH-FW-OUT1 -j RETURN',
    '-A BERTH-FW-OUT1 -j DROP',
  ])
})
