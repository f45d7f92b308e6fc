/**
 * Reads back what src/sdk/cloudinit/iso.ts writes (volume label and root files, Joliet names
 * when present), so tests check a seed the way Linux would mount it.
 */

const SECTOR = 2048

export function readIso(img: Buffer): {volumeId: string; files: Record<string, Buffer>} {
  let pvd = -1
  let joliet = -1
  for (let s = 16; s < img.length / SECTOR; s++) {
    const o = s * SECTOR
    if (img.toString('latin1', o + 1, o + 6) !== 'CD001') throw new Error('not an ISO 9660 image')
    if (img[o] === 255) break
    if (img[o] === 1) pvd = o
    if (img[o] === 2 && img.toString('latin1', o + 88, o + 91).startsWith('%/')) joliet = o
  }
  if (pvd < 0) throw new Error('no primary volume descriptor')
  const d = joliet >= 0 ? joliet : pvd
  const decode = (b: Buffer) => {
    if (joliet < 0) return b.toString('latin1')
    let s = ''
    for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode(b.readUInt16BE(i))
    return s
  }
  const volumeId = decode(img.subarray(d + 40, d + 72)).replace(/[\s\0]+$/, '')
  const rootExtent = img.readUInt32LE(d + 156 + 2)
  const rootSize = img.readUInt32LE(d + 156 + 10)
  const files: Record<string, Buffer> = {}
  for (let o = rootExtent * SECTOR, end = o + rootSize; o < end;) {
    const len = img[o]
    if (!len) break
    const idLen = img[o + 32]
    const id = img.subarray(o + 33, o + 33 + idLen)
    if (!(idLen === 1 && id[0] <= 1) && !(img[o + 25] & 2)) {
      const name = decode(id).replace(/;1$/, '')
      files[name] = img.subarray(img.readUInt32LE(o + 2) * SECTOR, img.readUInt32LE(o + 2) * SECTOR + img.readUInt32LE(o + 10))
    }
    o += len
  }
  return {volumeId, files}
}
