/**
 * The WireGuard mesh on one host, as shell run over berth's SSH session: tools, the key (made
 * there, never read back), the persisted state and the script that brings the interface up.
 * Everything lives in one folder beside the engine's config (a lab host's own /etc/docker, not
 * the box's), so removal leaves nothing. Private keys go only into files: `wg genkey >` and
 * `wg set ... private-key FILE`, never an argument, never printed.
 */
import type {MeshMembership} from '../store/index.js'

export const IFACE = 'berth0'
export const DIR = '/etc/docker/berth-mesh'
export const UNIT = '/etc/systemd/system/berth-mesh.service'
const LOG = '/var/log/berth-mesh.log'
/** Sent every 25 s to each peer: keeps a NAT's mapping open, so a member behind one stays reachable through its own outbound tunnel. */
export const KEEPALIVE = 25
/** WireGuard's own overhead on IPv4/IPv6 (80 bytes) under a 1500-byte underlay. */
export const MESH_MTU = 1420
/** VXLAN's 50 bytes inside the tunnel: what overlay networks on the mesh must use. */
export const OVERLAY_MTU = MESH_MTU - 50

const APT = 'DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600'

/**
 * wg, and kernel WireGuard or wireguard-go, installed with the host's package manager when
 * absent (as the engine is). Prints "impl kernel" or "impl wireguard-go".
 */
export const ENSURE_TOOLS = `have() { command -v "$1" >/dev/null 2>&1; }
kern() { ip link add berth-wgprobe type wireguard 2>/dev/null && ip link del berth-wgprobe; }
pkg() {
  if have apt-get; then ${APT} update >/dev/null 2>&1; ${APT} install -y --no-install-recommends "$@" >/dev/null
  elif have dnf; then dnf -q -y install "$@" >/dev/null
  elif have yum; then yum -q -y install "$@" >/dev/null
  elif have apk; then apk add -q "$@" >/dev/null
  else echo "no package manager to install $* with" >&2; return 1; fi
}
have wg || pkg wireguard-tools || { echo "could not install wireguard-tools" >&2; exit 1; }
if kern; then echo impl kernel; exit 0; fi
have wireguard-go || pkg wireguard-go || { echo "the kernel has no WireGuard and wireguard-go could not be installed" >&2; exit 1; }
[ -c /dev/net/tun ] || { echo "wireguard-go needs /dev/net/tun, which this host lacks" >&2; exit 1; }
echo impl wireguard-go
`

/** The key is made on the host, in a 0700 folder with umask 077; only the public half comes out. */
export const KEYGEN = `set -e; umask 077; mkdir -p ${DIR}; [ -s ${DIR}/private.key ] || wg genkey > ${DIR}/private.key; wg pubkey < ${DIR}/private.key`

export const envFile = (m: MeshMembership) => {
  const prefix = m.subnet.split('/')[1]
  return `IFACE=${IFACE}\nADDRESS=${m.address}\nPREFIX=${prefix}\nPORT=${m.port}\nMTU=${m.mtu}\n`
}

export interface Peer {
  publicKey: string
  address: string
  endpoint?: string
}

/** wg setconf's format: the listen port and every peer; the private key is set from its own file. */
export function peersConf(port: number, peers: Peer[]): string {
  const out = ['[Interface]', `ListenPort = ${port}`, '']
  for (const p of peers) {
    out.push('[Peer]', `PublicKey = ${p.publicKey}`, `AllowedIPs = ${p.address}/32`, ...(p.endpoint ? [`Endpoint = ${p.endpoint}`] : []), `PersistentKeepalive = ${KEEPALIVE}`, '')
  }
  return out.join('\n')
}

/**
 * Bring berth0 up from the folder (idempotent): kernel WireGuard, else wireguard-go in a session
 * of its own. Peers come from the file only on a fresh interface: a live one keeps the endpoints
 * it learned from handshakes (a NAT'd member's public side), which berth keeps in step itself.
 */
export const UP_SCRIPT = `#!/bin/sh
# berth's WireGuard mesh: run by berth's start path or the berth-mesh unit, before dockerd.
set -e
. ${DIR}/mesh.env
if ! ip link show "$IFACE" >/dev/null 2>&1; then
  ip link add "$IFACE" type wireguard 2>/dev/null || LOG_LEVEL=error setsid -w wireguard-go "$IFACE" </dev/null >>${LOG} 2>&1
  wg setconf "$IFACE" ${DIR}/peers.conf
fi
wg set "$IFACE" listen-port "$PORT" private-key ${DIR}/private.key
ip addr replace "$ADDRESS/$PREFIX" dev "$IFACE"
ip link set "$IFACE" mtu "$MTU" up
`

/** systemd hosts bring the mesh up at boot, before dockerd needs its addresses. */
export const UNIT_FILE = `[Unit]
Description=berth WireGuard mesh (${IFACE})
Wants=network-online.target
After=network-online.target
Before=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${DIR}/up.sh
ExecStop=/sbin/ip link del ${IFACE}

[Install]
WantedBy=multi-user.target
`

export const ENABLE_UNIT = `if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl daemon-reload && systemctl enable berth-mesh.service >/dev/null 2>&1; fi; true`

/** The interface (and wireguard-go with it: it exits when its device goes), the unit and the folder. */
export const TEARDOWN = `ip link del ${IFACE} 2>/dev/null; if [ -f ${UNIT} ]; then systemctl disable berth-mesh.service >/dev/null 2>&1; rm -f ${UNIT}; systemctl daemon-reload 2>/dev/null; fi; rm -rf ${DIR} /run/wireguard/${IFACE}.sock; true`

export const setPeer = (p: Peer) => `wg set ${IFACE} peer ${p.publicKey} allowed-ips ${p.address}/32 persistent-keepalive ${KEEPALIVE}${p.endpoint ? ` endpoint ${p.endpoint}` : ''}`

export const removePeer = (publicKey: string) => `wg set ${IFACE} peer ${publicKey} remove`

/** Handshake times and learnt endpoints: the two views of `wg show` that carry no private key. */
export const SHOW = `echo handshakes; wg show ${IFACE} latest-handshakes; echo endpoints; wg show ${IFACE} endpoints; echo now $(date +%s)`
