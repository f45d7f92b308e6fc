/**
 * A host behind a real SSH server, in this process: ssh2's Server with public-key auth, exec
 * channels and an SFTP subsystem over an in-memory file tree. berth's own SSH client talks to it
 * over loopback TCP (handshake, host key, channels, SFTP), so nothing of the client is mocked;
 * what runs "on the host" is a small command table, since no test may touch this box's /etc.
 */
import type {AddressInfo} from 'node:net'
import ssh2 from 'ssh2'
import type {Connection, ServerChannel, SFTPWrapper} from 'ssh2'

const {Server, utils} = ssh2
const {OPEN_MODE, STATUS_CODE} = utils.sftp

export interface ExecReply {
  code: number
  stdout?: string
  stderr?: string
}

export interface FakeFile {
  data: Buffer
  mode: number
}

export interface FakeSshdOptions {
  /** Answer a command; undefined falls through to the default (exit 0, no output). */
  exec?: (cmd: string, host: FakeSshd) => ExecReply | undefined | Promise<ExecReply | undefined>
  files?: Record<string, string>
}

export class FakeSshd {
  readonly files = new Map<string, FakeFile>()
  readonly commands: string[] = []
  /** OpenSSH public key lines allowed to log in (any user). */
  readonly authorized: string[] = []
  private readonly server: InstanceType<typeof Server>
  private readonly conns = new Set<Connection>()
  port = 0

  private constructor(readonly hostKeyPem: string, private readonly opts: FakeSshdOptions) {
    for (const [p, text] of Object.entries(opts.files ?? {})) this.files.set(p, {data: Buffer.from(text), mode: 0o644})
    this.server = new Server({hostKeys: [hostKeyPem]}, conn => this.onConnection(conn))
  }

  static async start(opts: FakeSshdOptions = {}): Promise<FakeSshd> {
    let pem = ''
    // ssh2's generator now and then makes a key its own parser rejects (see src/ssh): redraw.
    while (!pem || utils.parseKey(pem) instanceof Error) pem = utils.generateKeyPairSync('ed25519').private
    const host = new FakeSshd(pem, opts)
    await new Promise<void>(resolve => host.server.listen(0, '127.0.0.1', () => resolve()))
    host.port = (host.server.address() as AddressInfo).port
    return host
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.end()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }

  private onConnection(conn: Connection): void {
    this.conns.add(conn)
    conn.on('close', () => this.conns.delete(conn))
    conn.on('error', () => {})
    conn.on('authentication', ctx => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey'])
      const ok = this.authorized.some(line => {
        const key = utils.parseKey(line)
        if (key instanceof Error || Array.isArray(key) || !key.getPublicSSH().equals(ctx.key.data)) return false
        // Without a signature the client only asks whether the key would do; with one it proves it.
        return !ctx.signature || key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true
      })
      if (ok) ctx.accept()
      else ctx.reject(['publickey'])
    })
    conn.on('ready', () => {
      conn.on('session', accept => {
        const session = accept()
        session.on('exec', (acceptExec, _reject, info) => {
          const stream = acceptExec()
          void this.run(info.command, stream)
        })
        session.on('sftp', acceptSftp => this.serveSftp(acceptSftp()))
      })
    })
  }

  private async run(cmd: string, stream: ServerChannel): Promise<void> {
    this.commands.push(cmd)
    let reply: ExecReply
    try {
      reply = (await this.opts.exec?.(cmd, this)) ?? {code: 0}
    } catch (err) {
      reply = {code: 1, stderr: (err as Error).message}
    }
    stream.on('data', () => {}) // drain stdin
    if (reply.stdout) stream.write(reply.stdout)
    if (reply.stderr) stream.stderr.write(reply.stderr)
    stream.exit(reply.code)
    stream.end()
  }

  /** The SFTP requests berth makes: open/write/read/close, stat and chmod. */
  private serveSftp(sftp: SFTPWrapper): void {
    const handles = new Map<number, {path: string; write: boolean}>()
    let next = 0
    const attrs = (f: FakeFile) => ({mode: 0o100000 | f.mode, uid: 0, gid: 0, size: f.data.length, atime: 0, mtime: 0})
    const handleOf = (buf: Buffer) => handles.get(buf.readUInt32BE(0))
    sftp.on('OPEN', (id, filename, flags, a) => {
      const write = Boolean(flags & OPEN_MODE.WRITE)
      if (!write && !this.files.has(filename)) return sftp.status(id, STATUS_CODE.NO_SUCH_FILE)
      if (write && (flags & OPEN_MODE.TRUNC || !this.files.has(filename))) this.files.set(filename, {data: Buffer.alloc(0), mode: a.mode ?? 0o644})
      const h = Buffer.alloc(4)
      h.writeUInt32BE(next)
      handles.set(next++, {path: filename, write})
      sftp.handle(id, h)
    })
    sftp.on('WRITE', (id, handle, offset, data) => {
      const h = handleOf(handle)
      const f = h && this.files.get(h.path)
      if (!f) return sftp.status(id, STATUS_CODE.FAILURE)
      const out = Buffer.alloc(Math.max(f.data.length, offset + data.length))
      f.data.copy(out)
      data.copy(out, offset)
      f.data = out
      sftp.status(id, STATUS_CODE.OK)
    })
    sftp.on('READ', (id, handle, offset, length) => {
      const h = handleOf(handle)
      const f = h && this.files.get(h.path)
      if (!f) return sftp.status(id, STATUS_CODE.FAILURE)
      if (offset >= f.data.length) return sftp.status(id, STATUS_CODE.EOF)
      sftp.data(id, f.data.subarray(offset, offset + length))
    })
    sftp.on('FSTAT', (id, handle) => {
      const h = handleOf(handle)
      const f = h && this.files.get(h.path)
      if (!f) return sftp.status(id, STATUS_CODE.FAILURE)
      sftp.attrs(id, attrs(f))
    })
    sftp.on('CLOSE', (id, handle) => {
      handles.delete(handle.readUInt32BE(0))
      sftp.status(id, STATUS_CODE.OK)
    })
    const stat = (id: number, p: string) => {
      const f = this.files.get(p)
      if (f) return sftp.attrs(id, attrs(f))
      // A folder exists when some file lives under it.
      const prefix = p.endsWith('/') ? p : `${p}/`
      if ([...this.files.keys()].some(k => k.startsWith(prefix))) return sftp.attrs(id, {mode: 0o040755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0})
      sftp.status(id, STATUS_CODE.NO_SUCH_FILE)
    }
    sftp.on('STAT', stat)
    sftp.on('LSTAT', stat)
    sftp.on('SETSTAT', (id, p, a) => {
      const f = this.files.get(p)
      if (!f) return sftp.status(id, STATUS_CODE.NO_SUCH_FILE)
      if (a.mode !== undefined) f.mode = a.mode & 0o7777
      sftp.status(id, STATUS_CODE.OK)
    })
    sftp.on('FSETSTAT', (id, handle, a) => {
      const h = handleOf(handle)
      const f = h && this.files.get(h.path)
      if (!f) return sftp.status(id, STATUS_CODE.FAILURE)
      if (a.mode !== undefined) f.mode = a.mode & 0o7777
      sftp.status(id, STATUS_CODE.OK)
    })
  }

  text(p: string): string | undefined {
    return this.files.get(p)?.data.toString()
  }
}
