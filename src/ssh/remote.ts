/** Interactive shells, remote commands and file copies over a machine's pinned SSH connection. */
import {createReadStream, createWriteStream, promises as fs} from 'node:fs'
import path from 'node:path'
import type {SFTPWrapper} from 'ssh2'
import type {SSHSession} from './ssh.js'

/** Run a command (or a login shell when cmd is empty) with local stdio; resolves the exit code. */
export function interactive(session: SSHSession, cmd: string): Promise<number> {
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY)
  const pty = tty ? {term: process.env.TERM ?? 'xterm', rows: process.stdout.rows, cols: process.stdout.columns} : undefined
  return new Promise((resolve, reject) => {
    const onChannel = (err: Error | undefined, stream: import('ssh2').ClientChannel) => {
      if (err) return reject(err)
      if (tty) process.stdin.setRawMode(true)
      const onResize = () => stream.setWindow(process.stdout.rows, process.stdout.columns, 0, 0)
      if (tty) process.stdout.on('resize', onResize)
      process.stdin.pipe(stream)
      stream.pipe(process.stdout)
      stream.stderr.pipe(process.stderr)
      stream.on('close', (code: number | null) => {
        if (tty) {
          process.stdin.setRawMode(false)
          process.stdout.off('resize', onResize)
        }
        process.stdin.unpipe(stream)
        process.stdin.pause()
        resolve(code ?? 255)
      })
    }
    if (cmd) session.client.exec(cmd, {pty: pty ?? false}, onChannel)
    else session.client.shell(pty ?? false, onChannel)
  })
}

const sftpP = <T>(fn: (cb: (err: Error | null | undefined, v: T) => void) => void) => new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))))

async function upload(sftp: SFTPWrapper, local: string, remote: string, recursive: boolean): Promise<void> {
  const st = await fs.stat(local)
  if (st.isDirectory()) {
    if (!recursive) throw new Error(`${local} is a directory (use -r)`)
    // An existing folder is fine (SFTP status 4, FAILURE, is what OpenSSH answers then).
    await sftpP<void>(cb => sftp.mkdir(remote, {mode: st.mode & 0o777}, err => cb(err && (err as Error & {code?: number}).code !== 4 ? err : undefined, undefined)))
    for (const e of await fs.readdir(local)) await upload(sftp, path.join(local, e), `${remote}/${e}`, true)
    return
  }
  await new Promise<void>((resolve, reject) => {
    const ws = sftp.createWriteStream(remote, {mode: st.mode & 0o777})
    ws.on('close', () => resolve())
    ws.on('error', reject)
    createReadStream(local).on('error', reject).pipe(ws)
  })
}

async function download(sftp: SFTPWrapper, remote: string, local: string, recursive: boolean): Promise<void> {
  const st = await sftpP<import('ssh2').Stats>(cb => sftp.stat(remote, cb))
  if (st.isDirectory()) {
    if (!recursive) throw new Error(`${remote} is a directory (use -r)`)
    await fs.mkdir(local, {recursive: true, mode: st.mode & 0o777})
    const list = await sftpP<import('ssh2').FileEntry[]>(cb => sftp.readdir(remote, cb))
    for (const e of list) await download(sftp, `${remote}/${e.filename}`, path.join(local, e.filename), true)
    return
  }
  await new Promise<void>((resolve, reject) => {
    const ws = createWriteStream(local, {mode: st.mode & 0o777})
    ws.on('close', () => resolve())
    ws.on('error', reject)
    sftp.createReadStream(remote).on('error', reject).pipe(ws)
  })
}

/** scp semantics: copying into an existing directory puts the source inside it. */
export async function copyTo(session: SSHSession, local: string, remote: string, recursive: boolean): Promise<void> {
  const sftp = await session.sftp()
  const target = await sftpP<import('ssh2').Stats>(cb => sftp.stat(remote, cb)).catch(() => undefined)
  await upload(sftp, local, target?.isDirectory() ? `${remote}/${path.basename(local)}` : remote, recursive)
}

export async function copyFrom(session: SSHSession, remote: string, local: string, recursive: boolean): Promise<void> {
  const sftp = await session.sftp()
  const target = await fs.stat(local).catch(() => undefined)
  await download(sftp, remote, target?.isDirectory() ? path.join(local, path.posix.basename(remote)) : local, recursive)
}
