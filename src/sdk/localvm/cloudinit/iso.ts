/**
 * A minimal ISO 9660 image writer with Joliet names: enough for a cloud-init NoCloud seed
 * (a few small files in the root folder, volume label `cidata`), with no genisoimage/xorriso
 * on the host. Linux mounts it with the Joliet names (`user-data`, not `USERDATA.;1`).
 */

const SECTOR = 2048

export interface IsoFile {
  name: string
  data: Buffer | string
}

function both16(v: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt16LE(v, 0)
  b.writeUInt16BE(v, 2)
  return b
}

function both32(v: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt32LE(v, 0)
  b.writeUInt32BE(v, 4)
  return b
}

/** Identifier fields: ASCII space-padded in the primary descriptor, UCS-2 BE in the Joliet one. */
function text(s: string, len: number, joliet: boolean): Buffer {
  const b = Buffer.alloc(len, 0x20)
  if (joliet) {
    for (let i = 0; i + 1 < len; i += 2) b.writeUInt16BE(0x20, i)
    ucs2(s).copy(b, 0, 0, Math.floor(len / 2) * 2)
  } else {
    b.write(s.slice(0, len), 'latin1')
  }
  return b
}

function ucs2(s: string): Buffer {
  const b = Buffer.alloc(s.length * 2)
  for (let i = 0; i < s.length; i++) b.writeUInt16BE(s.charCodeAt(i), i * 2)
  return b
}

function recordingDate(d: Date): Buffer {
  return Buffer.from([d.getUTCFullYear() - 1900, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), 0])
}

function volumeDate(d: Date): Buffer {
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  const s = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`
  return Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from([0])])
}

function dirRecord(id: Buffer, extent: number, size: number, dir: boolean, date: Date): Buffer {
  const len = 33 + id.length + (id.length % 2 === 0 ? 1 : 0)
  const r = Buffer.alloc(len)
  r[0] = len
  both32(extent).copy(r, 2)
  both32(size).copy(r, 10)
  recordingDate(date).copy(r, 18)
  r[25] = dir ? 2 : 0
  both16(1).copy(r, 28)
  r[32] = id.length
  id.copy(r, 33)
  return r
}

/** 8.3 upper-case name from d-characters, for readers that ignore Joliet. */
export function primaryName(name: string, taken: Set<string>): string {
  const clean = (s: string) => s.toUpperCase().replace(/[^A-Z0-9_]/g, '')
  const dot = name.lastIndexOf('.')
  let base = clean(dot > 0 ? name.slice(0, dot) : name).slice(0, 8) || 'FILE'
  const ext = clean(dot > 0 ? name.slice(dot + 1) : '').slice(0, 3)
  for (let i = 1; taken.has(`${base}.${ext}`); i++) base = base.slice(0, 8 - String(i).length) + i
  taken.add(`${base}.${ext}`)
  return `${base}.${ext};1`
}

/** The bytes of an ISO 9660 image holding `files` in its root folder. */
export function buildIso(volumeId: string, files: IsoFile[], date = new Date()): Buffer {
  if (files.length > 30) throw new Error('buildIso: at most 30 files (one directory sector)')
  const sorted = [...files].sort((a, b) => a.name.localeCompare(b.name))
  const datas = sorted.map(f => (typeof f.data === 'string' ? Buffer.from(f.data, 'utf8') : f.data))
  // Layout: 16 system sectors, PVD, Joliet SVD, terminator, 4 path tables, 2 root folders, file data.
  const PVD = 16, SVD = 17, TERM = 18, LPATH = 19, MPATH = 20, JLPATH = 21, JMPATH = 22, ROOT = 23, JROOT = 24
  const extents: number[] = []
  let next = 25
  for (const d of datas) {
    extents.push(next)
    next += Math.max(1, Math.ceil(d.length / SECTOR))
  }
  const total = next
  const img = Buffer.alloc(total * SECTOR)
  const at = (sector: number) => sector * SECTOR

  const taken = new Set<string>()
  const primaryIds = sorted.map(f => Buffer.from(primaryName(f.name, taken), 'latin1'))
  const jolietIds = sorted.map(f => ucs2(f.name))

  const folder = (self: number, ids: Buffer[]): Buffer => {
    const recs = [dirRecord(Buffer.from([0]), self, SECTOR, true, date), dirRecord(Buffer.from([1]), self, SECTOR, true, date)]
    ids.forEach((id, i) => recs.push(dirRecord(id, extents[i], datas[i].length, false, date)))
    const out = Buffer.concat(recs)
    if (out.length > SECTOR) throw new Error('buildIso: file names too long for one directory sector')
    return out
  }
  folder(ROOT, primaryIds).copy(img, at(ROOT))
  folder(JROOT, jolietIds).copy(img, at(JROOT))

  const pathTable = (root: number, le: boolean): Buffer => {
    const b = Buffer.alloc(10)
    b[0] = 1
    if (le) {
      b.writeUInt32LE(root, 2)
      b.writeUInt16LE(1, 6)
    } else {
      b.writeUInt32BE(root, 2)
      b.writeUInt16BE(1, 6)
    }
    return b
  }
  pathTable(ROOT, true).copy(img, at(LPATH))
  pathTable(ROOT, false).copy(img, at(MPATH))
  pathTable(JROOT, true).copy(img, at(JLPATH))
  pathTable(JROOT, false).copy(img, at(JMPATH))

  const descriptor = (sector: number, joliet: boolean) => {
    const o = at(sector)
    img[o] = joliet ? 2 : 1
    img.write('CD001', o + 1, 'latin1')
    img[o + 6] = 1
    text('LINUX', 32, joliet).copy(img, o + 8)
    text(volumeId, 32, joliet).copy(img, o + 40)
    both32(total).copy(img, o + 80)
    if (joliet) img.write('%/E', o + 88, 'latin1') // UCS-2 level 3
    both16(1).copy(img, o + 120)
    both16(1).copy(img, o + 124)
    both16(SECTOR).copy(img, o + 128)
    both32(10).copy(img, o + 132)
    img.writeUInt32LE(joliet ? JLPATH : LPATH, o + 140)
    img.writeUInt32BE(joliet ? JMPATH : MPATH, o + 148)
    dirRecord(Buffer.from([0]), joliet ? JROOT : ROOT, SECTOR, true, date).copy(img, o + 156)
    for (const [off, len] of [[190, 128], [318, 128], [446, 128]] as const) text('', len, joliet).copy(img, o + off)
    text('BERTH', 128, joliet).copy(img, o + 574)
    for (const off of [702, 739, 776]) text('', 37, joliet).copy(img, o + off)
    volumeDate(date).copy(img, o + 813)
    volumeDate(date).copy(img, o + 830)
    Buffer.concat([Buffer.from('0000000000000000', 'latin1'), Buffer.from([0])]).copy(img, o + 847)
    volumeDate(date).copy(img, o + 864)
    img[o + 881] = 1
  }
  descriptor(PVD, false)
  descriptor(SVD, true)
  img[at(TERM)] = 255
  img.write('CD001', at(TERM) + 1, 'latin1')
  img[at(TERM) + 6] = 1

  datas.forEach((d, i) => d.copy(img, at(extents[i])))
  return img
}
