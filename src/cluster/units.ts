import {scaleBytes, UserError} from '../core/index.js'

/** 1.41 < 1.5 is false as strings; compare as numbers part by part. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d) return d < 0 ? -1 : 1
  }
  return 0
}

/** Go's units.BytesSize, which classic Swarm's `docker info` used: `1.021 GiB`. */
export function bytesSize(n: number): string {
  const [v, unit] = scaleBytes(n)
  return `${Number(v.toPrecision(4))} ${unit}`
}

/** `512m`, `1g`, `1.5GiB`, `2048` (bytes), as `docker run -m` reads them. */
export function parseMemory(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/i.exec(text.trim())
  if (!m) throw new UserError(`bad memory "${text}": use a number with an optional unit b, k, m, g (e.g. 512m)`)
  const mult = {'': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4}[m[2].toLowerCase() as '' | 'b' | 'k' | 'm' | 'g' | 't']
  return Math.round(Number(m[1]) * mult)
}

/** The version to speak to an engine: what the client asked, but no newer than the engine knows. */
export function clampVersion(requested: string | undefined, engineMax: string): string | undefined {
  if (!requested) return undefined
  return compareVersions(requested, engineMax) > 0 ? engineMax : requested
}
