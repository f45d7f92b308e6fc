/** Typed calls to Nova, Glance, Neutron and Cinder, on top of OpenStackClient. */
import type {ServiceKind} from './catalog.js'
import {OpenStackClient, type RequestOptions} from './client.js'
import {isNotFound, OpenStackError} from './errors.js'
import {
  type Flavor, FlavorList, FlavorShow, type FloatingIp, FloatingIpList, FloatingIpShow, type Image, ImageList, Image as ImageSchema,
  KeypairShow, type Network, NetworkList, type Port, PortList, type SecurityGroup, SecurityGroupList, SecurityGroupRuleShow,
  SecurityGroupShow, type Server, type ServerAction, type ServerCreateRequest, ServerCreateResponse, ServerDetailList, ServerShow,
  type Volume, VolumeList, VolumeShow, NetworkShow,
} from './schemas.js'

const enc = encodeURIComponent

export interface RuleSpec {
  direction: 'ingress' | 'egress'
  ethertype: 'IPv4' | 'IPv6'
  protocol: 'tcp' | 'udp' | 'icmp' | 'esp' | null
  portMin?: number
  portMax?: number
  remoteIpPrefix?: string
  remoteGroupId?: string
  description?: string
}

export class Cloud {
  private flavorList?: Promise<Flavor[]>

  /** signal: abort the calls of one operation (a create) without touching the shared client. */
  constructor(readonly client: OpenStackClient, readonly signal?: AbortSignal) {}

  // ---- Nova ----

  async flavors(): Promise<Flavor[]> {
    this.flavorList ??= this.req('compute', 'GET', '/flavors', {schema: FlavorList}).then(r => r.data.flavors)
    return this.flavorList.catch(err => {
      this.flavorList = undefined
      throw err
    })
  }

  async flavor(id: string): Promise<Flavor | undefined> {
    try {
      return (await this.req('compute', 'GET', `/flavors/${enc(id)}`, {schema: FlavorShow})).data.flavor
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  async importKeypair(name: string, publicKey: string): Promise<void> {
    // 200 before microversion 2.2, 201 after.
    await this.req('compute', 'POST', '/os-keypairs', {body: {keypair: {name, public_key: publicKey}}, schema: KeypairShow, ok: [200, 201]})
  }

  async keypair(name: string): Promise<{name: string; public_key: string} | undefined> {
    try {
      return (await this.req('compute', 'GET', `/os-keypairs/${enc(name)}`, {schema: KeypairShow})).data.keypair
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  /** False when it was already gone. */
  async deleteKeypair(name: string): Promise<boolean> {
    return this.delete('compute', `/os-keypairs/${enc(name)}`, [202, 204])
  }

  async createServer(body: ServerCreateRequest): Promise<string> {
    return (await this.req('compute', 'POST', '/servers', {body, schema: ServerCreateResponse, ok: [202]})).data.server.id
  }

  async server(id: string): Promise<Server | undefined> {
    try {
      return (await this.req('compute', 'GET', `/servers/${enc(id)}`, {schema: ServerShow})).data.server
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  /** Servers with exactly this name (Nova's name filter is a regular expression). */
  async serversNamed(name: string): Promise<Server[]> {
    const re = '^' + name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$'
    const r = await this.req('compute', 'GET', '/servers/detail', {query: {name: re}, schema: ServerDetailList})
    return r.data.servers.filter(s => s.name === name)
  }

  async deleteServer(id: string): Promise<boolean> {
    return this.delete('compute', `/servers/${enc(id)}`, [204, 202])
  }

  async serverAction(id: string, action: ServerAction): Promise<void> {
    await this.req('compute', 'POST', `/servers/${enc(id)}/action`, {body: action, ok: [202]})
  }

  // ---- Glance ----

  async image(id: string): Promise<Image | undefined> {
    try {
      return (await this.req('image', 'GET', `/images/${enc(id)}`, {schema: ImageSchema})).data
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  async imagesNamed(name: string): Promise<Image[]> {
    return (await this.req('image', 'GET', '/images', {query: {name}, schema: ImageList})).data.images.filter(i => i.name === name)
  }

  // ---- Neutron ----

  async network(id: string): Promise<Network | undefined> {
    try {
      return (await this.req('network', 'GET', `/networks/${enc(id)}`, {schema: NetworkShow})).data.network
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  async networksNamed(name: string): Promise<Network[]> {
    return (await this.req('network', 'GET', '/networks', {query: {name}, schema: NetworkList})).data.networks.filter(n => n.name === name)
  }

  async ports(deviceId: string): Promise<Port[]> {
    return (await this.req('network', 'GET', '/ports', {query: {device_id: deviceId}, schema: PortList})).data.ports
  }

  async securityGroupsNamed(name: string): Promise<SecurityGroup[]> {
    return (await this.req('network', 'GET', '/security-groups', {query: {name}, schema: SecurityGroupList})).data.security_groups.filter(g => g.name === name)
  }

  async createSecurityGroup(name: string, description: string): Promise<SecurityGroup> {
    return (await this.req('network', 'POST', '/security-groups', {body: {security_group: {name, description}}, schema: SecurityGroupShow, ok: [201]})).data.security_group
  }

  async deleteSecurityGroup(id: string): Promise<boolean> {
    return this.delete('network', `/security-groups/${enc(id)}`, [204])
  }

  async securityGroup(id: string): Promise<SecurityGroup | undefined> {
    try {
      return (await this.req('network', 'GET', `/security-groups/${enc(id)}`, {schema: SecurityGroupShow})).data.security_group
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  /** False when it was already gone. */
  async deleteRule(id: string): Promise<boolean> {
    return this.delete('network', `/security-group-rules/${enc(id)}`, [204])
  }

  async createRule(groupId: string, r: RuleSpec): Promise<void> {
    const body = {
      security_group_rule: {
        security_group_id: groupId, direction: r.direction, ethertype: r.ethertype, protocol: r.protocol,
        port_range_min: r.portMin ?? null, port_range_max: r.portMax ?? r.portMin ?? null,
        remote_ip_prefix: r.remoteIpPrefix ?? null, remote_group_id: r.remoteGroupId ?? null,
        ...(r.description ? {description: r.description} : {}),
      },
    }
    try {
      await this.req('network', 'POST', '/security-group-rules', {body, schema: SecurityGroupRuleShow, ok: [201]})
    } catch (err) {
      // The same rule made by a concurrent create of another swarm member is fine.
      if (err instanceof OpenStackError && err.status === 409 && /exist/i.test(err.detail)) return
      throw err
    }
  }

  async createFloatingIp(networkId: string, portId: string, description: string): Promise<FloatingIp> {
    const body = {floatingip: {floating_network_id: networkId, port_id: portId, description}}
    return (await this.req('network', 'POST', '/floatingips', {body, schema: FloatingIpShow, ok: [201]})).data.floatingip
  }

  async floatingIps(query: Record<string, string>): Promise<FloatingIp[]> {
    return (await this.req('network', 'GET', '/floatingips', {query, schema: FloatingIpList})).data.floatingips
  }

  async deleteFloatingIp(id: string): Promise<boolean> {
    return this.delete('network', `/floatingips/${enc(id)}`, [204])
  }

  // ---- Cinder ----

  async createVolume(v: {name: string; size: number; imageRef: string; volumeType?: string; availabilityZone?: string; description?: string}): Promise<Volume> {
    const body = {volume: {name: v.name, size: v.size, imageRef: v.imageRef, ...(v.volumeType ? {volume_type: v.volumeType} : {}), ...(v.availabilityZone ? {availability_zone: v.availabilityZone} : {}), ...(v.description ? {description: v.description} : {})}}
    return (await this.req('volume', 'POST', '/volumes', {body, schema: VolumeShow, ok: [202, 200]})).data.volume
  }

  async volume(id: string): Promise<Volume | undefined> {
    try {
      return (await this.req('volume', 'GET', `/volumes/${enc(id)}`, {schema: VolumeShow})).data.volume
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  async volumesNamed(name: string): Promise<Volume[]> {
    return (await this.req('volume', 'GET', '/volumes/detail', {query: {name}, schema: VolumeList})).data.volumes.filter(v => v.name === name)
  }

  async deleteVolume(id: string): Promise<boolean> {
    return this.delete('volume', `/volumes/${enc(id)}`, [202, 204])
  }

  private req<T>(kind: ServiceKind, method: string, path: string, o: RequestOptions<T> = {}) {
    return this.client.request<T>(kind, method, path, {...o, signal: this.signal})
  }

  private async delete(kind: 'compute' | 'network' | 'volume', path: string, ok: number[]): Promise<boolean> {
    try {
      await this.req(kind, 'DELETE', path, {ok})
      return true
    } catch (err) {
      if (isNotFound(err)) return false
      throw err
    }
  }
}
