/** Bytes in the largest binary unit that keeps the number >= 1 (1536 -> [1.5, 'KiB']). */
export function scaleBytes(n: number): [number, string] {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return [v, units[u]]
}
