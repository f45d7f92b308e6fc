import path from 'node:path'

/** What to say for a file system error that reached the command line, by errno. */
const SAY: Record<string, (p: string) => string> = {
  ENOENT: p => `${p} does not exist (removed meanwhile, or a folder above it is missing): check the path, or the store given by --storage-path`,
  EACCES: p => `permission denied on ${p}: check its owner and mode, or use a store of your own (--storage-path)`,
  EPERM: p => `operation not permitted on ${p}: check its owner and mode, or use a store of your own (--storage-path)`,
  EROFS: p => `${p} is on a read-only file system: use a writable store (--storage-path)`,
  EISDIR: p => `${p} is a folder where berth expects a file: move it away`,
  ENOTDIR: p => `a part of ${p} is a file where berth expects a folder: move it away`,
  EEXIST: p => `${p} already exists where berth makes a new one: move it away`,
  ENOSPC: p => `no space left on the device of ${p}: free some space`,
  EDQUOT: p => `disk quota exceeded writing ${p}: free some space`,
  ELOOP: p => `${p} is a symbolic link, which berth never follows in its store: replace it`,
  EMFILE: p => `too many open files (at ${p}): raise the limit (ulimit -n)`,
}

/** berth writes `.name.PID.RANDOM.tmp` beside a file and renames it: the user knows the file. */
function userPath(p: string): string {
  const m = /^\.(.+)\.\d+\.[0-9a-f]+\.tmp$/.exec(path.basename(p))
  return m ? path.join(path.dirname(p), m[1]!) : p
}

/**
 * One line for an errno error from the file system ("ENOENT: no such file or directory, open
 * '/x/.config.json.19270.tmp'" is for a debugger, not a user); undefined for anything else.
 */
export function fsErrorMessage(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException
  // Only Node's own system errors: berth's errors carry codes too (cloud_api), and an API path.
  if (!e || typeof e.code !== 'string' || !/^E[A-Z0-9]+$/.test(e.code) || typeof e.path !== 'string' || typeof e.syscall !== 'string') return undefined
  const say = SAY[e.code]
  if (!say) return `${e.syscall ?? 'access'} ${userPath(e.path)} failed (${e.code}): check the path, or the store given by --storage-path`
  return say(userPath(e.path))
}
