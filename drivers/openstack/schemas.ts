/**
 * Shapes of the OpenStack API bodies berth reads and writes, checked against the official
 * samples (test/fixtures/openstack). Only what berth relies on is required; everything else
 * is optional so that clouds adding fields (ConoHa does) still parse.
 */
import {z} from 'zod'

const nullishString = z.string().nullish()
const Link = z.object({href: z.string(), rel: z.string()})

// ---- Keystone v3 -------------------------------------------------------------------------

export const V3Endpoint = z.object({
  id: z.string().optional(),
  interface: z.string(),
  region: nullishString,
  region_id: nullishString,
  url: z.string(),
})
export const V3Service = z.object({type: z.string(), name: z.string().optional(), id: z.string().optional(), endpoints: z.array(V3Endpoint)})
const Domain = z.object({id: z.string().optional(), name: z.string().optional()})

export const V3TokenResponse = z.object({
  token: z.object({
    expires_at: z.string(),
    issued_at: z.string().optional(),
    methods: z.array(z.string()),
    user: z.object({id: z.string(), name: z.string().optional(), domain: Domain.optional()}),
    project: z.object({id: z.string(), name: z.string().optional(), domain: Domain.optional()}).optional(),
    catalog: z.array(V3Service).optional(),
    roles: z.array(z.object({id: z.string().optional(), name: z.string()})).optional(),
  }),
})
export type V3TokenResponse = z.infer<typeof V3TokenResponse>

const V3User = z.object({id: z.string().optional(), name: z.string().optional(), password: z.string(), domain: Domain.optional()})
  .refine(u => u.id || u.name, 'user needs an id or a name')
const V3AppCred = z.object({
  id: z.string().optional(), name: z.string().optional(), secret: z.string(),
  user: z.object({id: z.string().optional(), name: z.string().optional(), domain: Domain.optional()}).optional(),
}).refine(a => a.id || (a.name && a.user), 'application credential needs an id, or a name and a user')

export const V3AuthRequest = z.object({
  auth: z.object({
    identity: z.object({
      methods: z.array(z.enum(['password', 'application_credential', 'token'])).min(1),
      password: z.object({user: V3User}).optional(),
      application_credential: V3AppCred.optional(),
    }),
    scope: z.object({
      project: z.object({id: z.string().optional(), name: z.string().optional(), domain: Domain.optional()})
        .refine(p => p.id || p.name, 'project scope needs an id or a name'),
    }).optional(),
  }),
})
export type V3AuthRequest = z.infer<typeof V3AuthRequest>

// ---- Keystone v2.0 -----------------------------------------------------------------------

export const V2Endpoint = z.object({
  id: z.string().optional(),
  region: nullishString,
  publicURL: z.string(),
  internalURL: z.string().optional(),
  adminURL: z.string().optional(),
})
export const V2TokenResponse = z.object({
  access: z.object({
    token: z.object({
      id: z.string(),
      expires: z.string(),
      issued_at: z.string().optional(),
      tenant: z.object({id: z.string(), name: z.string().optional()}).optional(),
    }),
    serviceCatalog: z.array(z.object({type: z.string(), name: z.string().optional(), endpoints: z.array(V2Endpoint)})).default([]),
    user: z.object({id: z.string(), name: z.string().optional()}).optional(),
  }),
})
export type V2TokenResponse = z.infer<typeof V2TokenResponse>

export const V2AuthRequest = z.object({
  auth: z.object({
    passwordCredentials: z.object({username: z.string(), password: z.string()}),
    tenantName: z.string().optional(),
    tenantId: z.string().optional(),
  }),
})
export type V2AuthRequest = z.infer<typeof V2AuthRequest>

// ---- Nova --------------------------------------------------------------------------------

export const Flavor = z.object({
  id: z.string(),
  name: z.string(),
  ram: z.number().optional(),
  vcpus: z.number().optional(),
  disk: z.number().optional(),
  links: z.array(Link).optional(),
})
export type Flavor = z.infer<typeof Flavor>
export const FlavorList = z.object({flavors: z.array(Flavor)})
export const FlavorShow = z.object({flavor: Flavor})

export const ServerAddress = z.object({
  addr: z.string(),
  version: z.number(),
  'OS-EXT-IPS:type': z.string().optional(),
  'OS-EXT-IPS-MAC:mac_addr': z.string().optional(),
})
export type ServerAddress = z.infer<typeof ServerAddress>
export const Addresses = z.record(z.string(), z.array(ServerAddress))

export const Server = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string(),
  addresses: Addresses.default({}),
  metadata: z.record(z.string(), z.string()).optional(),
  key_name: nullishString,
  // A server booted from a volume has "" here, not an object.
  image: z.union([z.object({id: z.string()}), z.literal('')]).optional(),
  flavor: z.object({id: z.string().optional(), original_name: z.string().optional()}).optional(),
  progress: z.number().optional(),
  fault: z.object({code: z.number().optional(), message: z.string()}).optional(),
  'OS-EXT-STS:power_state': z.number().optional(),
  'OS-EXT-STS:task_state': nullishString,
  'OS-EXT-STS:vm_state': nullishString,
  security_groups: z.array(z.object({name: z.string()})).optional(),
})
export type Server = z.infer<typeof Server>
export const ServerShow = z.object({server: Server})
export const ServerList = z.object({servers: z.array(z.object({id: z.string(), name: z.string(), links: z.array(Link).optional()})), servers_links: z.array(Link).optional()})
export const ServerDetailList = z.object({servers: z.array(Server), servers_links: z.array(Link).optional()})
export const ServerIps = z.object({addresses: Addresses})

export const ServerCreateResponse = z.object({
  server: z.object({id: z.string(), adminPass: z.string().optional(), links: z.array(Link).optional(), security_groups: z.array(z.object({name: z.string()})).optional()}),
})

const BlockDevice = z.object({
  uuid: z.string().optional(),
  source_type: z.enum(['volume', 'image', 'snapshot', 'blank']).optional(),
  destination_type: z.enum(['volume', 'local']).optional(),
  boot_index: z.union([z.number(), z.string()]).optional(),
  volume_size: z.number().optional(),
  delete_on_termination: z.boolean().optional(),
})

export const ServerCreateRequest = z.object({
  server: z.object({
    name: z.string().min(1),
    imageRef: z.string().optional(),
    flavorRef: z.string(),
    key_name: z.string().optional(),
    availability_zone: z.string().optional(),
    metadata: z.record(z.string(), z.string()).optional(),
    networks: z.union([z.array(z.object({uuid: z.string().optional(), port: z.string().optional(), fixed_ip: z.string().optional()})), z.enum(['auto', 'none'])]).optional(),
    security_groups: z.array(z.object({name: z.string()})).optional(),
    user_data: z.string().optional(),
    block_device_mapping_v2: z.array(BlockDevice).optional(),
    accessIPv4: z.string().optional(),
    accessIPv6: z.string().optional(),
    'OS-DCF:diskConfig': z.string().optional(),
    personality: z.array(z.object({path: z.string(), contents: z.string()})).optional(),
    config_drive: z.boolean().optional(),
  }),
  'OS-SCH-HNT:scheduler_hints': z.record(z.string(), z.unknown()).optional(),
})
export type ServerCreateRequest = z.infer<typeof ServerCreateRequest>

export const ServerAction = z.union([
  z.object({'os-start': z.null()}),
  z.object({'os-stop': z.null()}),
  z.object({reboot: z.object({type: z.enum(['SOFT', 'HARD'])})}),
])
export type ServerAction = z.infer<typeof ServerAction>

export const Keypair = z.object({
  name: z.string(),
  public_key: z.string(),
  fingerprint: z.string().optional(),
  type: z.string().optional(),
  user_id: z.string().optional(),
  private_key: z.string().optional(),
})
export const KeypairShow = z.object({keypair: Keypair})
export const KeypairList = z.object({keypairs: z.array(z.object({keypair: Keypair}))})
export const KeypairCreateRequest = z.object({
  keypair: z.object({name: z.string().min(1), public_key: z.string().optional(), type: z.enum(['ssh', 'x509']).optional(), user_id: z.string().optional()}),
})

// ---- Glance v2 ---------------------------------------------------------------------------

export const Image = z.object({
  id: z.string(),
  name: z.string().nullable(),
  status: z.string(),
  visibility: z.string().optional(),
  min_disk: z.number().optional(),
  min_ram: z.number().optional(),
  size: z.number().nullish(),
})
export type Image = z.infer<typeof Image>
export const ImageList = z.object({images: z.array(Image), next: z.string().optional(), first: z.string().optional()})

// ---- Neutron -----------------------------------------------------------------------------

export const Network = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string().optional(),
  subnets: z.array(z.string()).default([]),
  'router:external': z.boolean().optional(),
  shared: z.boolean().optional(),
})
export type Network = z.infer<typeof Network>
export const NetworkList = z.object({networks: z.array(Network)})
export const NetworkShow = z.object({network: Network})

export const Subnet = z.object({id: z.string(), name: z.string(), network_id: z.string(), cidr: z.string(), ip_version: z.number(), gateway_ip: nullishString})
export const SubnetList = z.object({subnets: z.array(Subnet)})

export const Port = z.object({
  id: z.string(),
  network_id: z.string(),
  device_id: z.string(),
  device_owner: z.string().optional(),
  fixed_ips: z.array(z.object({ip_address: z.string(), subnet_id: z.string().optional()})),
  security_groups: z.array(z.string()).default([]),
  status: z.string().optional(),
  mac_address: z.string().optional(),
})
export type Port = z.infer<typeof Port>
export const PortList = z.object({ports: z.array(Port)})

// Neutron echoes port numbers as integers but accepts strings on input (the official request sample sends "80").
const PortNumber = z.union([z.number().int(), z.string().regex(/^\d+$/)]).nullish()

export const SecurityGroupRule = z.object({
  id: z.string(),
  direction: z.enum(['ingress', 'egress']),
  ethertype: z.enum(['IPv4', 'IPv6']),
  protocol: nullishString,
  port_range_min: z.number().nullish(),
  port_range_max: z.number().nullish(),
  remote_ip_prefix: nullishString,
  remote_group_id: nullishString,
  security_group_id: z.string(),
  description: z.string().optional(),
})
export type SecurityGroupRule = z.infer<typeof SecurityGroupRule>
export const SecurityGroup = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  security_group_rules: z.array(SecurityGroupRule).default([]),
  project_id: z.string().optional(),
  tenant_id: z.string().optional(),
  created_at: z.string().optional(),
})
export type SecurityGroup = z.infer<typeof SecurityGroup>
export const SecurityGroupShow = z.object({security_group: SecurityGroup})
export const SecurityGroupList = z.object({security_groups: z.array(SecurityGroup)})
export const SecurityGroupRuleShow = z.object({security_group_rule: SecurityGroupRule})
export const SecurityGroupRuleList = z.object({security_group_rules: z.array(SecurityGroupRule)})

export const SecurityGroupCreateRequest = z.object({
  security_group: z.object({name: z.string(), description: z.string().optional(), stateful: z.boolean().optional()}),
})
export const SecurityGroupRuleCreateRequest = z.object({
  security_group_rule: z.object({
    security_group_id: z.string(),
    direction: z.enum(['ingress', 'egress']),
    ethertype: z.enum(['IPv4', 'IPv6']).optional(),
    protocol: nullishString,
    port_range_min: PortNumber,
    port_range_max: PortNumber,
    remote_ip_prefix: nullishString,
    remote_group_id: nullishString,
    remote_address_group_id: nullishString,
    description: z.string().optional(),
  }),
})
export type SecurityGroupRuleCreateRequest = z.infer<typeof SecurityGroupRuleCreateRequest>

export const FloatingIp = z.object({
  id: z.string(),
  floating_ip_address: z.string(),
  floating_network_id: z.string(),
  port_id: z.string().nullable(),
  fixed_ip_address: z.string().nullable(),
  status: z.string().optional(),
  description: z.string().optional(),
})
export type FloatingIp = z.infer<typeof FloatingIp>
export const FloatingIpShow = z.object({floatingip: FloatingIp})
export const FloatingIpList = z.object({floatingips: z.array(FloatingIp)})
export const FloatingIpCreateRequest = z.object({
  floatingip: z.object({
    floating_network_id: z.string(),
    port_id: z.string().nullish(),
    subnet_id: z.string().optional(),
    fixed_ip_address: z.string().optional(),
    floating_ip_address: z.string().optional(),
    description: z.string().optional(),
    dns_domain: z.string().optional(),
    dns_name: z.string().optional(),
    qos_policy_id: z.string().optional(),
  }),
})
export const FloatingIpUpdateRequest = z.object({floatingip: z.object({port_id: z.string().nullable()})})

// ---- Cinder v3 (no official sample in the contract set: shapes from the api-ref) ------------

export const Volume = z.object({
  id: z.string(),
  name: z.string().nullable(),
  status: z.string(),
  size: z.number(),
  volume_type: nullishString,
  bootable: z.union([z.string(), z.boolean()]).optional(),
  attachments: z.array(z.object({server_id: z.string().optional(), attachment_id: z.string().optional(), device: z.string().optional()})).default([]),
})
export type Volume = z.infer<typeof Volume>
export const VolumeShow = z.object({volume: Volume})
export const VolumeList = z.object({volumes: z.array(Volume)})
export const VolumeCreateRequest = z.object({
  volume: z.object({size: z.number().int().positive(), name: z.string().optional(), imageRef: z.string().optional(), volume_type: z.string().optional(), availability_zone: z.string().optional()}),
})
