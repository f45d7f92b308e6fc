/**
 * The one CIDR parser: every flag that takes a network (lab, qemu and virtualbox subnets, the
 * clouds' open CIDRs) reads it here, and adds its own limits and message on top.
 */
import {isIPv4, isIPv6} from 'node:net'

export interface Cidr {
  /** The address as written (not masked). */
  ip: string
  prefix: number
  v6: boolean
}

/** An IPv4 or IPv6 address with a prefix length that fits it, or undefined. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text)
  if (!m) return undefined
  const [ip, prefix] = [m[1], Number(m[2])]
  // IPv4 first: node's IPv6 pattern is one huge regular expression whose first use costs ~50 ms
  // of compiling, paid by every create that only ever sees IPv4 subnets.
  const v6 = !isIPv4(ip) && isIPv6(ip)
  if (!v6 && !isIPv4(ip)) return undefined
  return prefix <= (v6 ? 128 : 32) ? {ip, prefix, v6} : undefined
}

/** The netmask of an IPv4 prefix length, as a number. */
export const maskOf = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0)

export const ipNumber = (ip: string) => ip.split('.').reduce((n, o) => ((n << 8) >>> 0) + Number(o), 0)

export const ipString = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
