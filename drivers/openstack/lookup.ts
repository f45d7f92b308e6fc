/** Names given as flags, resolved to ids before anything is made: a typo fails with nothing to undo. */
import {UserError} from '../../src/sdk/index.js'
import type {Cloud} from './api.js'
import type {OpenStackClient} from './client.js'
import type {ResolvedConfig} from './config.js'
import {memo} from './session.js'

export interface Resolved {
  flavorId: string
  imageId: string
  networkId?: string
  floatingNetworkId?: string
}

export async function resolveNames(client: OpenStackClient, cloud: Cloud, cfg: ResolvedConfig): Promise<Resolved> {
  const [flavorId, imageId, networkId, floatingNetworkId] = await Promise.all([
    memo(client, `flavor:${cfg.flavor.id}:${cfg.flavor.name}`, () => findFlavor(cloud, cfg)),
    memo(client, `image:${cfg.image.id}:${cfg.image.name}`, () => findImage(cloud, cfg)),
    cfg.network.id || cfg.network.name ? memo(client, `net:${cfg.network.id}:${cfg.network.name}`, () => findNetwork(cloud, cfg.network, 'net')) : undefined,
    cfg.floatingIpPool ? memo(client, `pool:${cfg.floatingIpPool}`, () => findNetwork(cloud, {name: cfg.floatingIpPool}, 'floatingip-pool')) : undefined,
    ...cfg.secGroups.map(g => memo(client, `sg:${g}`, async () => {
      if (!(await cloud.securityGroupsNamed(g)).length) throw new UserError(`security group "${g}" not found: check --openstack-sec-groups`)
    })),
    cfg.keypairName ? memo(client, `kp:${cfg.keypairName}`, async () => {
      if (!await cloud.keypair(cfg.keypairName!)) throw new UserError(`keypair "${cfg.keypairName}" not found: check --openstack-keypair-name`)
    }) : undefined,
  ])
  return {flavorId, imageId, networkId, floatingNetworkId}
}

async function findFlavor(cloud: Cloud, cfg: ResolvedConfig): Promise<string> {
  if (cfg.flavor.id) {
    if (!await cloud.flavor(cfg.flavor.id)) throw new UserError(`flavor id "${cfg.flavor.id}" not found: check --openstack-flavor-id`)
    return cfg.flavor.id
  }
  const all = await cloud.flavors()
  const f = all.find(x => x.name === cfg.flavor.name)
  if (!f) throw new UserError(`flavor "${cfg.flavor.name}" not found (the cloud has: ${all.map(x => x.name).slice(0, 12).join(', ')}${all.length > 12 ? ', ...' : ''})`)
  return f.id
}

async function findImage(cloud: Cloud, cfg: ResolvedConfig): Promise<string> {
  if (cfg.image.id) {
    if (!await cloud.image(cfg.image.id)) throw new UserError(`image id "${cfg.image.id}" not found: check --openstack-image-id`)
    return cfg.image.id
  }
  const found = (await cloud.imagesNamed(cfg.image.name!)).filter(i => i.status === 'active')
  if (!found.length) throw new UserError(`image "${cfg.image.name}" not found (or not active): check --openstack-image-name`)
  if (found.length > 1) throw new UserError(`${found.length} images are named "${cfg.image.name}": pass --openstack-image-id (${found.map(i => i.id).join(', ')})`)
  return found[0].id
}

async function findNetwork(cloud: Cloud, n: {id?: string; name?: string}, flag: 'net' | 'floatingip-pool'): Promise<string> {
  if (n.id) {
    if (!await cloud.network(n.id)) throw new UserError(`network id "${n.id}" not found: check --openstack-net-id`)
    return n.id
  }
  const found = await cloud.networksNamed(n.name!)
  if (!found.length) throw new UserError(`network "${n.name}" not found: check --openstack-${flag}${flag === 'net' ? '-name' : ''}`)
  if (found.length > 1) throw new UserError(`${found.length} networks are named "${n.name}": pass --openstack-net-id`)
  return found[0].id
}
