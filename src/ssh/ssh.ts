import {createHash} from 'node:crypto'
import net from 'node:net'
import type {Client, ClientChannel, ConnectConfig, SFTPWrapper} from 'ssh2'
import {poll, UserError} from '../core/index.js'

/** Handshakes this process made: the benchmark reports them per host (docker-machine needs 19+). */
export const sshStats = {handshakes: 0}

export interface HostKey {
  type: string
  /** OpenSSH-style SHA256 fingerprint, e.g. SHA256:abc... */
  fingerprint: string
  /** base64 of the wire-format key, as in known_hosts */
  key: string
}

export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '')
}

export function hostKeyOf(key: Buffer): HostKey {
  const typeLen = key.readUInt32BE(0)
  return {type: key.subarray(4, 4 + typeLen).toString(), fingerprint: fingerprint(key), key: key.toString('base64')}
}

export async function generateKeyPair(comment: string): Promise<{privateKey: string; publicKey: string}> {
  const {utils} = (await import('ssh2')).default
  // ssh2's generator emits a key its own parser (and sshd) rejects about 1 time in 300: check and redraw.
  for (let i = 0; i < 20; i++) {
    const pair = utils.generateKeyPairSync('ed25519', {comment})
    if (!(utils.parseKey(pair.private) instanceof Error)) return {privateKey: pair.private, publicKey: pair.public.trim()}
  }
  throw new Error('could not generate a valid ed25519 key')
}

export function shellQuote(s: string): string {
  if (/^[a-zA-Z0-9_./:=@%+,-]+$/.test(s)) return s
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export class HostKeyMismatch extends UserError {
  constructor(host: string, expected: string, got: string) {
    super(`host key of ${host} changed: expected ${expected}, got ${got}; refusing to connect (if the host was rebuilt, remove and re-create the machine)`)
  }
}

export interface ConnectOptions {
  host: string
  port: number
  user: string
  privateKey?: string
  agent?: string
  /** Pinned key: anything else is refused. Absent on first contact (trust on first use). */
  hostKey?: HostKey
  /** Keep retrying until this many ms have passed (the host may still be booting). */
  timeoutMs?: number
  signal?: AbortSignal
  debug?: (line: string) => void
  /** SSH keepalives (default on). Off for a session that idles unreferenced: their timer would hold the process. */
  keepalive?: boolean
}

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

const RETRYABLE = /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EPIPE|Timed out while waiting for handshake|All configured authentication methods failed|Connection lost before handshake|Not connected|ENOTFOUND|EAI_AGAIN/

/**
 * Wait for SSH with backoff up to the deadline, then return one connection for all the work.
 * The pauses are core's abortable sleep, which drops its abort listener when it ends: a long
 * wait must not pile listeners on the signal (Node warns past 10, garbling the progress lines).
 */
export async function connect(opts: ConnectOptions): Promise<SSHSession> {
  const timeoutMs = opts.timeoutMs ?? 60_000
  return poll(left => connectOnce(opts, Math.max(1000, Math.min(10_000, left))), {
    timeoutMs, intervalMs: 50, backoff: 1.6, maxIntervalMs: 2000, signal: opts.signal,
    fatal: err => err instanceof HostKeyMismatch || !RETRYABLE.test((err as Error).message),
    onRetry: (err, pause) => opts.debug?.(`ssh ${opts.host}:${opts.port} not ready (${(err as Error).message}), retrying in ${Math.round(pause)} ms`),
    timeoutError: last => new UserError(`SSH to ${opts.user}@${opts.host}:${opts.port} not ready after ${Math.round(timeoutMs / 1000)} s: ${(last as Error | undefined)?.message ?? 'timeout'}`),
  })
}

async function connectOnce(opts: ConnectOptions, readyTimeout: number): Promise<SSHSession> {
  const {Client} = (await import('ssh2')).default
  const client: Client = new Client()
  let seen: HostKey | undefined
  let mismatch: HostKeyMismatch | undefined
  const config: ConnectConfig = {
    host: opts.host,
    port: opts.port,
    username: opts.user,
    privateKey: opts.privateKey,
    agent: opts.agent,
    readyTimeout,
    keepaliveInterval: opts.keepalive === false ? 0 : 15_000,
    hostVerifier: (key: Buffer) => {
      seen = hostKeyOf(key)
      if (opts.hostKey && opts.hostKey.key !== seen.key) {
        mismatch = new HostKeyMismatch(`${opts.host}:${opts.port}`, opts.hostKey.fingerprint, seen.fingerprint)
        return false
      }
      return true
    },
  }
  return new Promise<SSHSession>((resolve, reject) => {
    const onAbort = () => {
      client.end()
      reject(opts.signal?.reason ?? new Error('aborted'))
    }
    opts.signal?.addEventListener('abort', onAbort, {once: true})
    client.once('ready', () => {
      opts.signal?.removeEventListener('abort', onAbort)
      sshStats.handshakes++
      resolve(new SSHSession(client, opts.user, seen!, opts.debug))
    })
    let failed = false
    // ssh2 can emit a second error (e.g. "Connection lost before handshake" after a timeout):
    // keep listening so it is not an uncaught 'error' event that kills the process.
    client.on('error', (err: Error) => {
      if (failed) return
      failed = true
      opts.signal?.removeEventListener('abort', onAbort)
      if (seen) sshStats.handshakes++
      client.end()
      reject(mismatch ?? err)
    })
    client.connect(config)
    coalesceWrites(Reflect.get(client, '_sock'))
  })
}

/**
 * ssh2 writes every packet to the socket on its own: a provisioning step that sends a dozen SFTP
 * requests at once made a dozen write syscalls, each carried through the kernel's network stack
 * (most of berth's system time per host). Corked until the end of the tick, they leave as one.
 */
function coalesceWrites(sock: unknown): void {
  if (!(sock instanceof net.Socket)) return
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean
  let corked = false
  sock.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true
      sock.cork()
      process.nextTick(() => {
        corked = false
        sock.uncork()
      })
    }
    return write(...args)
  }) as typeof sock.write
}

/** One SSH connection; exec and SFTP channels are multiplexed over it. */
export class SSHSession {
  private sftpP?: Promise<SFTPWrapper>

  constructor(readonly client: Client, readonly user: string, readonly hostKey: HostKey, private readonly debug?: (line: string) => void) {}

  get isRoot(): boolean {
    return this.user === 'root'
  }

  /** Wrap a shell command so it runs as root: non-root users go through `sudo -n`. */
  asRoot(cmd: string): string {
    return this.isRoot ? cmd : `sudo -n sh -c ${shellQuote(cmd)}`
  }

  exec(cmd: string, opts: {stdin?: string | Buffer; root?: boolean; pty?: boolean} = {}): Promise<ExecResult> {
    const command = opts.root ? this.asRoot(cmd) : cmd
    return new Promise((resolve, reject) => {
      this.client.exec(command, {pty: opts.pty}, (err: Error | undefined, stream: ClientChannel) => {
        if (err) return reject(err)
        const out: Buffer[] = []
        const errs: Buffer[] = []
        const relay = (prefix: string) => (chunk: Buffer) => {
          if (!this.debug) return
          for (const line of chunk.toString().split('\n')) if (line) this.debug(prefix + line)
        }
        stream.on('data', (d: Buffer) => { out.push(d); relay('')(d) })
        stream.stderr.on('data', (d: Buffer) => { errs.push(d); relay('')(d) })
        stream.on('close', (code: number | null, signal?: string) => {
          resolve({code: code ?? (signal ? 128 : 255), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(errs).toString()})
        })
        if (opts.stdin !== undefined) stream.end(opts.stdin)
        else stream.end()
      })
    })
  }

  /** Run a command that must succeed; the error carries its last stderr line. */
  async run(cmd: string, opts: {root?: boolean; stdin?: string | Buffer; what?: string} = {}): Promise<string> {
    this.debug?.(`$ ${opts.what ?? cmd}`)
    const r = await this.exec(cmd, opts)
    if (r.code !== 0) {
      const detail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0] ?? ''
      throw new Error(`${opts.what ?? cmd.split('\n')[0]} failed (exit ${r.code})${detail ? `: ${detail}` : ''}`)
    }
    return r.stdout
  }

  sftp(): Promise<SFTPWrapper> {
    this.sftpP ??= new Promise((resolve, reject) => {
      this.client.sftp((err: Error | undefined, sftp: SFTPWrapper) => (err ? reject(err) : resolve(sftp)))
    })
    return this.sftpP
  }

  /**
   * Write a file with the given mode. Secrets travel inside the SFTP channel, never on a
   * command line. Non-root users write to a private temp file and `sudo install` it.
   */
  async writeFile(remotePath: string, data: string | Buffer, mode = 0o644): Promise<void> {
    const sftp = await this.sftp()
    const target = this.isRoot ? remotePath : `.berth-upload-${process.pid}-${Math.random().toString(36).slice(2)}`
    await new Promise<void>((resolve, reject) => {
      // Create with mode 0600 first so a secret is never readable, even for an instant.
      const ws = sftp.createWriteStream(target, {mode: 0o600, flags: 'w'})
      ws.on('error', reject)
      ws.on('close', () => resolve())
      ws.end(data)
    })
    if (this.isRoot) {
      await new Promise<void>((resolve, reject) => sftp.chmod(target, mode, err => (err ? reject(err) : resolve())))
    } else {
      await this.run(`install -m ${mode.toString(8)} ${shellQuote(target)} ${shellQuote(remotePath)}; rc=$?; rm -f ${shellQuote(target)}; exit $rc`, {root: true, what: `install ${remotePath}`})
    }
  }

  async readFile(remotePath: string): Promise<Buffer> {
    const sftp = await this.sftp()
    return new Promise((resolve, reject) => sftp.readFile(remotePath, (err: Error | undefined, data: Buffer) => (err ? reject(err) : resolve(data))))
  }

  /** An idle session does not keep the process alive (for one kept open between users). */
  setIdle(idle: boolean): void {
    const sock: unknown = Reflect.get(this.client, '_sock')
    if (sock instanceof net.Socket) {
      if (idle) sock.unref()
      else sock.ref()
    }
  }

  close(): void {
    this.client.end()
  }
}

/** Whether an SSH server answers with its banner on a loopback port (a booting VM's forwarded sshd). */
export async function sshBanner(port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise(resolve => {
    const s = net.connect({host: '127.0.0.1', port})
    let buf = ''
    const done = (ok: boolean) => {
      clearTimeout(t)
      s.destroy()
      resolve(ok)
    }
    const t = setTimeout(() => done(false), timeoutMs)
    s.on('data', d => {
      buf += d.toString('latin1')
      if (buf.startsWith('SSH-')) done(true)
      else if (buf.length >= 4) done(false)
    })
    s.on('error', () => done(false))
    s.on('close', () => done(false))
  })
}
