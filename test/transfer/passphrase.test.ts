/**
 * The passphrase prompt on a real terminal (a pty from util-linux's script): asked twice on
 * export, nothing echoed, and the file then opens with the same passphrase from the environment.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {BIN, berth, tmpDir} from '../helpers.js'
import {shellQuote} from '../../src/ssh/index.js'

/** Run a shell line on a pty, typing each answer once the output shows its prompt. */
function onPty(line: string, env: Record<string, string>, answers: Array<[RegExp, string]>): Promise<{code: number; out: string}> {
  return new Promise((resolve, reject) => {
    const full: Record<string, string | undefined> = {...process.env, ...env}
    delete full.BERTH_EXPORT_PASSPHRASE
    const child = spawn('script', ['-qfec', line, '/dev/null'], {env: full, stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    let next = 0
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.stdout.on('data', d => {
      out += d
      while (next < answers.length && answers[next][0].test(out.slice(out.lastIndexOf('\n', out.length - 2) + 1))) {
        child.stdin.write(answers[next][1])
        next++
      }
    })
    child.on('error', reject)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({code: code ?? 137, out})
    })
  })
}

test('export asks the passphrase twice on the terminal without echo; import opens it', {skip: !existsSync('/usr/bin/script') && 'needs script (util-linux)'}, async () => {
  const store = tmpDir('pty-src')
  const dir = path.join(store, 'machines', 'm1')
  mkdirSync(dir, {recursive: true})
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(path.join(dir, f), `${f}\n`)
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    schemaVersion: 2, name: 'm1', id: '0123456789ab', driver: 'generic', createdAt: new Date().toISOString(), status: 'ready',
    driverData: {ip: '127.0.0.1', user: 'root', port: 22, enginePort: 2376, agent: true}, ssh: {},
  }))
  const file = path.join(tmpDir('pty-x'), 'm1.berth')
  const env = {BERTH_STORAGE_PATH: store}
  const line = `${shellQuote(process.execPath)} ${shellQuote(BIN)} export m1 > ${shellQuote(file)}`
  const differ = await onPty(line, env, [[/Passphrase: $/, 'one secret\r'], [/Passphrase again: $/, 'two secret\r']])
  assert.notEqual(differ.code, 0)
  assert.match(differ.out, /the passphrases differ/)
  const ok = await onPty(line, env, [[/Passphrase: $/, 'pty secret\r'], [/Passphrase again: $/, 'pty secret\r']])
  assert.equal(ok.code, 0, ok.out)
  assert.doesNotMatch(ok.out, /pty secret/, 'nothing echoed')
  const dst = tmpDir('pty-dst')
  const imp = await berth(['import', file], {env: {BERTH_STORAGE_PATH: dst, BERTH_EXPORT_PASSPHRASE: 'pty secret'}})
  assert.equal(imp.code, 0, imp.stderr)
  assert.match(imp.stdout, /Imported "m1" \(driver generic\)/)
  const none = await berth(['import', file], {env: {BERTH_STORAGE_PATH: tmpDir('pty-none'), BERTH_EXPORT_PASSPHRASE: undefined}})
  assert.equal(none.code, 1)
  assert.match(none.stderr, /no passphrase: pipe it with --passphrase-stdin, set BERTH_EXPORT_PASSPHRASE, or run in a terminal/)
})
