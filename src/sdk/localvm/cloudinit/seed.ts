/**
 * The cloud-init NoCloud seed a VM without a metadata service boots with: berth's SSH
 * key for a sudo user, the hostname, a fresh instance-id (so a re-created machine is a new
 * instance: new host keys), and the network: DHCP on the NAT NIC, a static address on the
 * machines' shared segment.
 */
import {createHash, randomBytes} from 'node:crypto'
import {buildIso} from './iso.js'

export interface SeedNic {
  mac: string
  /** CIDR address; absent means DHCP. */
  address?: string
}

export interface SeedInput {
  hostname: string
  user: string
  sshPublicKey: string
  /** Unique per created machine: cloud-init treats a new id as a new instance (new host keys). */
  instanceId: string
  nics: SeedNic[]
  /**
   * The user's own user data (a #cloud-config or a script, e.g. package_update, packages, runcmd):
   * sent with berth's as a MIME multipart, berth's part last so its user, key and hostname stand.
   */
  userData?: string
}

export function newInstanceId(machineId: string): string {
  return `berth-${machineId}-${randomBytes(4).toString('hex')}`
}

// JSON is YAML: no quoting rules to get wrong for keys and names.
const yaml = (header: string, v: unknown) => `${header}${JSON.stringify(v, null, 2)}\n`

function berthUserData(s: SeedInput): string {
  return yaml('#cloud-config\n', {
    hostname: s.hostname,
    preserve_hostname: false,
    manage_etc_hosts: true,
    users: [{
      name: s.user, gecos: 'berth', shell: '/bin/bash', groups: ['sudo'], sudo: 'ALL=(ALL) NOPASSWD:ALL', lock_passwd: true,
      ssh_authorized_keys: [s.sshPublicKey],
    }],
    disable_root: true,
    ssh_pwauth: false,
    // Host keys are made on the VM at first boot, never copied from the image.
    ssh_deletekeys: true,
    ssh_genkeytypes: ['ed25519', 'ecdsa'],
    // A locale would need the locales package and minutes of TCG time; the image has C.UTF-8.
    locale: false,
    // The user's own part says whether apt runs at first boot (cloud-init's default: it does not).
    ...(s.userData ? {} : {package_update: false, package_upgrade: false}),
    resize_rootfs: true,
    growpart: {mode: 'auto', devices: ['/'], ignore_growroot_disabled: false},
  })
}

export function userData(s: SeedInput): string {
  const own = berthUserData(s)
  if (!s.userData) return own
  const type = s.userData.startsWith('#!') ? 'text/x-shellscript' : s.userData.startsWith('#cloud-config') ? 'text/cloud-config' : undefined
  if (!type) throw new Error('user data must start with #cloud-config or #! (a script)')
  const boundary = `berth-${createHash('sha256').update(own + s.userData).digest('hex').slice(0, 16)}`
  const part = (t: string, body: string) => `--${boundary}\nContent-Type: ${t}; charset="utf-8"\nMIME-Version: 1.0\n\n${body.endsWith('\n') ? body : `${body}\n`}`
  return `Content-Type: multipart/mixed; boundary="${boundary}"\nMIME-Version: 1.0\n\n${part(type, s.userData)}${part('text/cloud-config', own)}--${boundary}--\n`
}

export function metaData(s: SeedInput): string {
  return yaml('', {'instance-id': s.instanceId, 'local-hostname': s.hostname})
}

/** Network config v2, matched by MAC so NIC naming schemes do not matter. */
export function networkConfig(s: SeedInput): string {
  const ethernets: Record<string, unknown> = {}
  s.nics.forEach((n, i) => {
    ethernets[`nic${i}`] = n.address
      ? {match: {macaddress: n.mac}, dhcp4: false, addresses: [n.address]}
      : {match: {macaddress: n.mac}, dhcp4: true}
  })
  return yaml('', {version: 2, ethernets})
}

/** The seed ISO: volume label `cidata` with user-data, meta-data and network-config. */
export function seedIso(s: SeedInput): Buffer {
  return buildIso('cidata', [
    {name: 'user-data', data: userData(s)},
    {name: 'meta-data', data: metaData(s)},
    {name: 'network-config', data: networkConfig(s)},
  ])
}

/** A locally administered unicast MAC: 52:54 then four bytes. */
export function macFromBytes(b: Uint8Array): string {
  return ['52', '54', ...[...b.subarray(0, 4)].map(x => x.toString(16).padStart(2, '0'))].join(':')
}

/**
 * MACs of a local VM's two NICs: the NAT one from the machine id, the segment one carrying the
 * VM's address (so unique on the segment as long as the address is). `address` may be CIDR.
 */
export function vmMacs(machineId: string, address: string): {natMac: string; lanMac: string} {
  return {
    natMac: macFromBytes(createHash('sha256').update(`${machineId}/nat`).digest()),
    lanMac: macFromBytes(Buffer.from(address.split('/')[0].split('.').map(Number))),
  }
}
