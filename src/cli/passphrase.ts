/**
 * The passphrase of `berth export` / `berth import FILE`, never from argv: standard input
 * (--passphrase-stdin), else BERTH_EXPORT_PASSPHRASE, else a prompt on the terminal with no echo.
 */
import {UserError} from '../core/index.js'

export const PASSPHRASE_ENV = 'BERTH_EXPORT_PASSPHRASE'

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  // One line, as `echo "$P" | berth ...` or a password manager's pipe sends it.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

/** One line from the terminal, echoing nothing; Ctrl-C or Ctrl-D stops the command. */
function prompt(question: string): Promise<string> {
  const tty = process.stdin
  return new Promise((resolve, reject) => {
    // No echo before the question shows: what is typed once it is on screen is never displayed.
    tty.setRawMode(true)
    tty.resume()
    process.stderr.write(question)
    let line = ''
    const done = (err?: Error) => {
      tty.setRawMode(false)
      tty.pause()
      tty.off('data', onData)
      process.stderr.write('\n')
      if (err) reject(err)
      else resolve(line)
    }
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done()
        if (ch === '\u0003' || ch === '\u0004') return done(new UserError('no passphrase given', 130))
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1)
        else line += ch
      }
    }
    tty.on('data', onData)
  })
}

export async function readPassphrase(opts: {stdin?: boolean; confirm?: boolean}): Promise<string> {
  let p: string | undefined
  if (opts.stdin) p = await readStdin()
  else if (process.env[PASSPHRASE_ENV] !== undefined) p = process.env[PASSPHRASE_ENV]
  else if (process.stdin.isTTY && process.stderr.isTTY) {
    p = await prompt('Passphrase: ')
    if (opts.confirm && await prompt('Passphrase again: ') !== p) throw new UserError('the passphrases differ: nothing was written')
  } else {
    throw new UserError(`no passphrase: pipe it with --passphrase-stdin, set ${PASSPHRASE_ENV}, or run in a terminal to be asked`)
  }
  if (!p) throw new UserError('empty passphrase')
  return p
}
