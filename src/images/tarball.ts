/** What a `docker save` tarball holds, read from its manifest.json by walking the tar headers (the layers are skipped, never read). */
import {promises as fs} from 'node:fs'
import {UserError} from '../core/index.js'

export interface SavedImage {
  id: string
  tags: string[]
}

export async function tarballImages(file: string): Promise<SavedImage[]> {
  const fh = await fs.open(file, 'r').catch(err => {
    throw new UserError(`cannot read --file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`)
  })
  try {
    const header = Buffer.alloc(512)
    let pos = 0
    let longName: string | undefined
    for (;;) {
      const {bytesRead} = await fh.read(header, 0, 512, pos)
      if (bytesRead < 512 || header.every(b => b === 0)) break
      const size = parseInt(header.subarray(124, 136).toString().replace(/\0.*$/, '').trim() || '0', 8)
      const type = String.fromCharCode(header[156])
      const name = longName ?? (header.subarray(345, 500).toString().replace(/\0.*$/, '') ? `${header.subarray(345, 500).toString().replace(/\0.*$/, '')}/` : '') + header.subarray(0, 100).toString().replace(/\0.*$/, '')
      longName = undefined
      const body = async () => {
        const b = Buffer.alloc(size)
        await fh.read(b, 0, size, pos + 512)
        return b.toString()
      }
      if (type === 'L') longName = (await body()).replace(/\0.*$/, '')
      else if (type === 'x') longName = /\d+ path=([^\n]*)\n/.exec(await body())?.[1]
      else if (name.replace(/^\.\//, '') === 'manifest.json') {
        const manifest = JSON.parse(await body()) as Array<{Config: string; RepoTags?: string[] | null}>
        return manifest.map(m => ({id: `sha256:${m.Config.replace(/^.*\//, '').replace(/\.json$/, '')}`, tags: m.RepoTags ?? []}))
      }
      pos += 512 + Math.ceil(size / 512) * 512
    }
  } finally {
    await fh.close()
  }
  throw new UserError(`--file ${file} is not a "docker save" tarball (no manifest.json in it)`)
}
