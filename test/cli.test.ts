import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {berth, ROOT, tmpDir} from './helpers.js'

test('the shipped oclif manifest lists exactly the built commands, with their flags', async () => {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8'))
  const ids = new Set<string>()
  const walk = (dir: string, prefix: string[]) => {
    for (const e of readdirSync(dir, {withFileTypes: true})) {
      if (e.isDirectory()) walk(path.join(dir, e.name), [...prefix, e.name])
      // Files starting with '_' are not commands (package.json's oclif.commands.globPatterns).
      else if (e.name.endsWith('.js') && !e.name.startsWith('_')) ids.add([...prefix, e.name.replace(/\.js$/, '')].filter(p => p !== 'index').join(':'))
    }
  }
  walk(path.join(ROOT, 'dist', 'commands'), [])
  assert.deepEqual(Object.keys(manifest.commands).sort(), [...ids].sort())
  for (const id of ids) {
    const mod = await import(path.join(ROOT, 'dist', 'commands', ...id.split(':')) + (existsSync(path.join(ROOT, 'dist', 'commands', ...id.split(':'), 'index.js')) ? '/index.js' : '.js'))
    const flags = Object.keys({...mod.default.baseFlags, ...mod.default.flags}).sort()
    assert.deepEqual(Object.keys(manifest.commands[id].flags).sort(), flags, `flags of ${id}`)
  }
})

const store = () => ({BERTH_STORAGE_PATH: tmpDir('clistore')})

for (const [args, pattern] of [
  [['create', '-d', 'lab', 'bad_name'], /invalid machine name "bad_name"/],
  [['create', '-d', 'nosuch', 'n1'], /unknown driver "nosuch" \(available: .*lab.*generic/],
  [['create', '-d', 'generic', 'n1'], /--generic-ip-address is required/],
  [['create', '-d', 'lab', '--lab-subnet', '300.1.2.0/24', 'n1'], /bad --lab-subnet/],
  [['create', '-d', 'lab', '--generic-ip-address', '10.0.0.9', 'n1'], /--generic-ip-address belongs to the generic driver/],
  [['create', '--engine-label', 'nolabel', 'n1'], /bad --engine-label/],
  [['create', 'n1', 'n1'], /named twice/],
  [['env', 'ghost'], /machine "ghost" does not exist/],
  [['rm', '-y', 'ghost'], /machine "ghost" does not exist/],
  [['stop', 'ghost'], /does not exist/],
  [['create', '--nosuchflag', 'x'], /Nonexistent flag|nosuchflag/],
] as Array<[string[], RegExp]>) {
  test(`bad input is one line, exit != 0, nothing created: ${args.join(' ')}`, async () => {
    const env = store()
    const r = await berth(args, {env})
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, pattern)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    const machines = path.join(env.BERTH_STORAGE_PATH, 'machines')
    assert.deepEqual(existsSync(machines) ? readdirSync(machines) : [], [])
  })
}

test('ls on an empty store prints only the header; --json prints []', async () => {
  const env = store()
  const r = await berth(['ls'], {env})
  assert.equal(r.code, 0)
  assert.match(r.stdout, /^NAME\s+ACTIVE\s+DRIVER\s+STATE\s+URL\s+SWARM\s+DOCKER\s+ERRORS\n$/)
  assert.deepEqual(JSON.parse((await berth(['ls', '--json'], {env})).stdout), [])
})

test('help lists the commands and driver flags', async () => {
  const r = await berth(['create', '--help'])
  assert.equal(r.code, 0)
  for (const f of ['--lab-subnet', '--generic-ip-address', '--engine-opt', '--parallel']) assert.ok(r.stdout.includes(f), f)
})
