/** docker-machine compatibility pieces, unit by unit (the e2e test drives them through a symlink). */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync} from 'node:fs'
import {createHash} from 'node:crypto'
import path from 'node:path'
import {prepareArgv} from '../src/cli/argv.js'
import {closest} from '../src/cli/not-found.js'
import {Progress} from '../src/cli/progress.js'
import {compileTemplate, renderFormat, renderOne, LS_HEADERS, goDuration} from '../src/format/index.js'
import {mapEngineOpts} from '../src/options/engine-opts.js'
import {activeDockerHost, noProxy, removeDockerContext, shellLines, writeDockerContext} from '../src/machine/dockerenv.js'
import {berth, ROOT, tmpDir} from './helpers.js'

test('argv: MACHINE_* fill BERTH_* only where unset; global flags before the command become variables', () => {
  const env: NodeJS.ProcessEnv = {MACHINE_STORAGE_PATH: '/m', MACHINE_DRIVER: 'generic', BERTH_DRIVER: 'lab', MACHINE_DOCKER_INSTALL_URL: 'none', ENGINE_REGISTRY_MIRROR: 'https://mirror'}
  assert.deepEqual(prepareArgv(['ls'], env).argv, ['ls'])
  assert.equal(env.BERTH_STORAGE_PATH, '/m')
  assert.equal(env.BERTH_DRIVER, 'lab', 'BERTH_* wins')
  assert.equal(env.BERTH_ENGINE_INSTALL_URL, 'none')
  assert.equal(env.BERTH_ENGINE_REGISTRY_MIRROR, 'https://mirror')
  const e2: NodeJS.ProcessEnv = {}
  assert.deepEqual(prepareArgv(['-D', '-s', '/x', 'ls', '-q'], e2).argv, ['ls', '-q'])
  assert.equal(e2.BERTH_DEBUG, '1')
  assert.equal(e2.BERTH_STORAGE_PATH, '/x')
  assert.deepEqual(prepareArgv(['--storage-path=/y', '--tls-ca-cert', '/ca.pem', 'env', 'n1'], e2).argv, ['env', 'n1'])
  assert.equal(e2.BERTH_STORAGE_PATH, '/y')
  assert.equal(e2.BERTH_TLS_CA_CERT, '/ca.pem')
  const ignored = prepareArgv(['--native-ssh', '--github-api-token', 'sekrit', 'ls'], {})
  assert.deepEqual(ignored.argv, ['ls'])
  assert.equal(ignored.notes.length, 2)
  assert.ok(!ignored.notes.join().includes('sekrit'), 'a token is never echoed')
  assert.deepEqual(prepareArgv(['help'], {}).argv, ['--help'])
  assert.deepEqual(prepareArgv(['help', 'swarm', 'ls'], {}).argv, ['swarm', 'ls', '--help'])
  assert.deepEqual(prepareArgv(['-h'], {}).argv, ['--help'])
  assert.deepEqual(prepareArgv(['ls', '-h'], {}).argv, ['ls', '--help'])
  assert.deepEqual(prepareArgv(['ssh', 'n1', 'df', '-h'], {}).argv, ['ssh', 'n1', 'df', '-h'], 'a remote command keeps its -h')
  assert.deepEqual(prepareArgv(['-v'], {}).argv, ['--version'])
})

test('did you mean: the nearest command when it is close, nothing when it is not', () => {
  const ids = ['create', 'ls', 'rm', 'regenerate-certs', 'swarm:ls', 'inspect']
  assert.equal(closest('creat', ids), 'create')
  assert.equal(closest('inspcet', ids), 'inspect')
  assert.equal(closest('regen', ids), 'regenerate-certs')
  assert.equal(closest('swarm:lss', ids), 'swarm:ls')
  assert.equal(closest('xyzzy', ids), undefined)
})

test('templates: fields, functions, pipelines, if/else if/range/with, trimming; errors are one line', () => {
  const data = {Name: 'n1', Driver: {IPAddress: '10.0.0.2', SSHPort: 22}, L: ['a', 'b'], E: [], On: true}
  assert.equal(compileTemplate('{{.Driver.IPAddress}}').execute(data), '10.0.0.2')
  assert.equal(compileTemplate('{{json .Name}} {{json .Driver}}').execute(data), '"n1" {"IPAddress":"10.0.0.2","SSHPort":22}')
  assert.ok(compileTemplate('{{prettyjson .Driver}}').execute(data).split('\n').length > 1)
  assert.equal(compileTemplate('{{range .L}}<{{.}}>{{end}}|{{range .E}}x{{else}}none{{end}}').execute(data), '<a><b>|none')
  assert.equal(compileTemplate('{{if not .On}}off{{else if eq .Name "n1"}}one{{else}}other{{end}}').execute(data), 'one')
  assert.equal(compileTemplate('{{with .Driver}}{{.SSHPort}}{{end}} {{.Name | upper}} {{join .L ","}} {{len .L}} {{printf "%s:%d" .Name .Driver.SSHPort}} {{$.Name}}').execute(data), '22 N1 a,b 2 n1:22 n1')
  assert.equal(compileTemplate('a  {{- "b" -}}  c').execute(data), 'abc')
  assert.equal(compileTemplate('{{.L}}').execute(data), '[a b]')
  assert.throws(() => compileTemplate('{{.Nope}}').execute(data), /can't evaluate field Nope/)
  assert.throws(() => compileTemplate('{{if .On}}x'), /missing \{\{end\}\}/)
  assert.throws(() => compileTemplate('{{nofunc .Name}}').execute(data), /function "nofunc" not defined/)
})

test('ls --format: table directive with docker-machine headers, tabwriter alignment, \\t escapes', () => {
  const rows = [{Name: 'a', State: 'Running', URL: 'tcp://10.0.0.2:2376'}, {Name: 'node10', State: 'Stopped', URL: ''}]
  assert.equal(renderFormat('table {{.Name}}\\t{{.State}}\\t{{.URL}}', rows, LS_HEADERS), 'NAME     STATE     URL\na        Running   tcp://10.0.0.2:2376\nnode10   Stopped   \n')
  assert.equal(renderFormat('{{.Name}}:{{.State}}', rows, LS_HEADERS), 'a:Running\nnode10:Stopped\n')
  assert.equal(renderOne('{{.Name}}', rows[0]), 'a\n')
  assert.equal(goDuration(12), '12ms')
  assert.equal(goDuration(1500), '1.5s')
})

test('--engine-opt as dockerd flags becomes valid daemon.json, or is refused', () => {
  const r = mapEngineOpts(['log-opt=max-size=10m', 'log-opt=max-file=3', 'dns=8.8.8.8', 'dns=1.1.1.1', 'log-driver=json-file', 'mtu=1400', 'ipv6', 'label=tier=front', 'insecure-registry=reg:5000', 'default-ulimit=nofile=1024:2048', 'graph=/data'])
  const cfg = Object.fromEntries(r.opts.map(o => [o.slice(0, o.indexOf('=')), JSON.parse(o.slice(o.indexOf('=') + 1))]))
  assert.deepEqual(cfg['log-opts'], {'max-size': '10m', 'max-file': '3'})
  assert.deepEqual(cfg.dns, ['8.8.8.8', '1.1.1.1'])
  assert.equal(cfg['log-driver'], 'json-file')
  assert.equal(cfg.mtu, 1400)
  assert.equal(cfg.ipv6, true)
  assert.equal(cfg['data-root'], '/data')
  assert.deepEqual(cfg['default-ulimits'], {nofile: {Name: 'nofile', Soft: 1024, Hard: 2048}})
  assert.deepEqual(r.labels, ['tier=front'])
  assert.deepEqual(r.insecureRegistries, ['reg:5000'])
  assert.throws(() => mapEngineOpts(['tlsverify=false']), /berth sets this itself/)
  assert.throws(() => mapEngineOpts(['frobnicate=1']), /not a dockerd option/)
  assert.throws(() => mapEngineOpts(['mtu=big']), /whole number/)
  assert.throws(() => mapEngineOpts(['log-opt=max-size']), /log-opt=NAME=VALUE/)
  assert.throws(() => mapEngineOpts(['ipv6=maybe']), /true or false/)
})

test('env lines are docker-machine\'s (env_shell.bats), and work unquoted in bash', () => {
  const vars: Array<[string, string | null]> = [['DOCKER_TLS_VERIFY', '1'], ['DOCKER_HOST', 'tcp://10.0.0.2:2376'], ['DOCKER_CERT_PATH', '/s/machines/n1'], ['DOCKER_MACHINE_NAME', 'n1'], ['NO_PROXY', '10.0.0.2']]
  assert.deepEqual(shellLines('bash', vars, 'docker-machine env --no-proxy n1').split('\n'), [
    'export DOCKER_TLS_VERIFY="1"', 'export DOCKER_HOST="tcp://10.0.0.2:2376"', 'export DOCKER_CERT_PATH="/s/machines/n1"', 'export DOCKER_MACHINE_NAME="n1"', 'export NO_PROXY="10.0.0.2"',
    '# Run this command to configure your shell: ', '# eval $(docker-machine env --no-proxy n1)', ''])
  assert.equal(shellLines('powershell', vars, 'x').split('\n')[4], '$Env:NO_PROXY = "10.0.0.2"')
  assert.equal(shellLines('cmd', vars, 'x').split('\n')[0], 'SET DOCKER_TLS_VERIFY=1')
  assert.equal(shellLines('fish', vars, 'x').split('\n')[3], 'set -gx DOCKER_MACHINE_NAME "n1";')
  const unset: Array<[string, null]> = [['DOCKER_TLS_VERIFY', null], ['DOCKER_HOST', null]]
  assert.deepEqual(shellLines('bash', unset, 'x').split('\n').slice(0, 2), ['unset DOCKER_TLS_VERIFY', 'unset DOCKER_HOST'])
  assert.equal(shellLines('powershell', unset, 'x').split('\n')[0], 'Remove-Item Env:\\\\DOCKER_TLS_VERIFY')
  assert.equal(shellLines('cmd', unset, 'x').split('\n')[0], 'SET DOCKER_TLS_VERIFY=')
  assert.equal(shellLines('fish', unset, 'x').split('\n')[0], 'set -e DOCKER_TLS_VERIFY;')
  const out = execFileSync('bash', ['-c', 'eval $(printf %s "$S"); echo "$DOCKER_HOST|$NO_PROXY"'], {env: {...process.env, S: shellLines('bash', vars, 'x')}}).toString().trim()
  assert.equal(out, 'tcp://10.0.0.2:2376|10.0.0.2')
  assert.deepEqual(noProxy('10.0.0.2', {}), ['NO_PROXY', '10.0.0.2'])
  assert.deepEqual(noProxy('10.0.0.2', {NO_PROXY: 'localhost'}), ['NO_PROXY', 'localhost,10.0.0.2'])
  assert.deepEqual(noProxy('10.0.0.2', {no_proxy: 'localhost,10.0.0.2'}), ['no_proxy', 'localhost,10.0.0.2'])
})

test('active host as the docker CLI resolves it: DOCKER_HOST, DOCKER_CONTEXT, config.json; rm takes the context', async () => {
  const cfg = tmpDir('dockercfg')
  const certs = tmpDir('certs')
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(path.join(certs, f), f)
  const old = process.env.DOCKER_CONFIG
  process.env.DOCKER_CONFIG = cfg
  try {
    await writeDockerContext('berth-n1', 'tcp://10.0.0.2:2376', certs, 'x')
    assert.equal(await activeDockerHost({DOCKER_HOST: 'tcp://h:1', DOCKER_CONTEXT: 'berth-n1'}), 'tcp://h:1')
    assert.equal(await activeDockerHost({DOCKER_CONTEXT: 'berth-n1'}), 'tcp://10.0.0.2:2376')
    assert.equal(await activeDockerHost({}), undefined)
    writeFileSync(path.join(cfg, 'config.json'), JSON.stringify({currentContext: 'berth-n1'}))
    assert.equal(await activeDockerHost({}), 'tcp://10.0.0.2:2376')
    const id = createHash('sha256').update('berth-n1').digest('hex')
    assert.ok(existsSync(path.join(cfg, 'contexts', 'tls', id, 'docker', 'key.pem')))
    assert.equal(await removeDockerContext('berth-n1'), true)
    assert.deepEqual(readdirSync(path.join(cfg, 'contexts', 'meta')), [])
    assert.equal(await removeDockerContext('berth-n1'), false)
  } finally {
    if (old === undefined) delete process.env.DOCKER_CONFIG
    else process.env.DOCKER_CONFIG = old
  }
})

test('progress: live lines with elapsed time, warnings above the block, plain lines otherwise, no colour without colour', () => {
  let out = ''
  let t = 0
  const live = new Progress(s => (out += s), {live: true, color: false, now: () => t, columns: () => 80})
  live.step('n1', 'creating host (lab)')
  t = 3000
  live.step('n2', 'waiting for SSH')
  live.message('warning: an even number of managers')
  t = 7000
  live.step('n1', 'ready')
  assert.ok(!out.includes('\x1b[3'), 'no colour codes')
  // The warning was written once, after the block was erased (cursor up + clear to the end)...
  assert.equal(out.split('warning: an even number of managers').length, 2)
  assert.ok(out.includes('\x1b[2A\x1b[Jwarning: an even number of managers\n'))
  // ...and the last drawing shows both hosts with their own elapsed time.
  const last = out.slice(out.lastIndexOf('\x1b[2A'))
  assert.match(last, /n1\s+7s {2}ready/)
  assert.match(last, /n2\s+4s {2}waiting for SSH/)
  let plain = ''
  const p = new Progress(s => (plain += s), {live: false, color: false})
  p.step('n1', 'creating host (lab)')
  p.message('warning: w')
  assert.equal(plain, 'n1: creating host (lab)\nwarning: w\n')
  let colored = ''
  new Progress(s => (colored += s), {live: true, color: true, now: () => 0}).step('n1', 'ready')
  assert.ok(colored.includes('\x1b[32m'))
})

const store = () => ({BERTH_STORAGE_PATH: tmpDir('dmstore')})

test('CLI: help command, -h, did-you-mean, full parse errors, usage errors exit 1, pre-create exit 3', async () => {
  const env = store()
  assert.match((await berth(['help', 'ls'], {env})).stdout, /List machines/)
  assert.match((await berth(['ls', '-h'], {env})).stdout, /--format/)
  const nf = await berth(['creat'], {env})
  assert.equal(nf.code, 1)
  assert.match(nf.stderr, /"creat" is not a berth command\. Did you mean "create"\?/)
  const miss = await berth(['create'], {env})
  assert.equal(miss.code, 1)
  assert.equal(miss.stderr.trim().split('\n').length, 1)
  assert.match(miss.stderr, /Missing 1 required arg: name Machine name\(s\)\. See more help/)
  assert.equal((await berth(['ls', '--bogus'], {env})).code, 1)
  const u = await berth(['env', '-u', 'n1'], {env})
  assert.equal(u.code, 1)
  assert.match(u.stderr, /Expected no machine name when the -u flag is present/)
  const f = await berth(['ls', '--filter', 'color=red'], {env})
  assert.equal(f.code, 1)
  assert.match(f.stderr, /Unsupported filter key 'color'/)
  const pre = await berth(['create', '-d', 'lab', '--lab-subnet', '300.1.2.0/24', 'n1'], {env})
  assert.equal(pre.code, 3, pre.stderr)
  const eo = await berth(['create', '--engine-opt', 'tlsverify=false', 'n1'], {env})
  assert.equal(eo.code, 1)
  assert.match(eo.stderr, /berth sets this itself/)
  assert.ok(!existsSync(path.join(env.BERTH_STORAGE_PATH, 'machines', 'n1')))
})

test('CLI: MACHINE_STORAGE_PATH and -s before the command pick the store; create -d X --help shows X\'s flags only', async () => {
  const dir = tmpDir('dmstore2')
  mkdirSync(path.join(dir, 'machines', 'half'), {recursive: true})
  const viaVar = await berth(['ls', '-q'], {env: {BERTH_STORAGE_PATH: '', MACHINE_STORAGE_PATH: dir}})
  assert.equal(viaVar.stdout, 'half\n')
  const viaFlag = await berth(['-s', dir, 'ls', '-q'], {env: {BERTH_STORAGE_PATH: ''}})
  assert.equal(viaFlag.stdout, 'half\n')
  const h = await berth(['create', '-d', 'generic', '--help'])
  assert.match(h.stdout, /GENERIC DRIVER FLAGS/)
  assert.doesNotMatch(h.stdout, /LAB DRIVER FLAGS|--azure-|--openstack-/)
  const all = await berth(['create', '--help'])
  assert.match(all.stdout, /LAB DRIVER FLAGS[\s\S]*GENERIC DRIVER FLAGS|GENERIC DRIVER FLAGS[\s\S]*LAB DRIVER FLAGS/)
  const help = await berth(['--help'])
  for (const c of ['autocomplete', 'create']) assert.match(help.stdout, new RegExp(`\\b${c}\\b`))
})

test('MACHINE_TLS_*: a new store takes the given CA and client certificate; a store with others refuses them', async () => {
  const {ensureStoreCerts} = await import('../src/certs/index.js')
  const {adoptStoreTls} = await import('../src/options/index.js')
  const mine = path.join(tmpDir('tlsa'), 'certs')
  await ensureStoreCerts(mine)
  const env = {BERTH_TLS_CA_CERT: path.join(mine, 'ca.pem'), BERTH_TLS_CA_KEY: path.join(mine, 'ca-key.pem'), BERTH_TLS_CLIENT_CERT: path.join(mine, 'cert.pem'), BERTH_TLS_CLIENT_KEY: path.join(mine, 'key.pem')}
  const fresh = path.join(tmpDir('tlsb'), 'certs')
  assert.match((await adoptStoreTls(fresh, env))!, /takes the CA/)
  for (const f of ['ca.pem', 'ca-key.pem', 'cert.pem', 'key.pem']) assert.ok(readFileSync(path.join(fresh, f)).equals(readFileSync(path.join(mine, f))), f)
  assert.equal(await adoptStoreTls(fresh, env), undefined, 'the same files again: nothing to do')
  const other = path.join(tmpDir('tlsc'), 'certs')
  await ensureStoreCerts(other)
  await assert.rejects(adoptStoreTls(other, env), /already has its own CA/)
  await assert.rejects(adoptStoreTls(fresh, {BERTH_TLS_CA_CERT: env.BERTH_TLS_CA_CERT}), /go together/)
  assert.equal(await adoptStoreTls(fresh, {}), undefined)
})

test('a damaged store is one line, not a raw errno', async () => {
  const dir = tmpDir('dmdamaged')
  writeFileSync(path.join(dir, 'machines'), 'not a folder')
  for (const args of [['ls'], ['inspect', 'x'], ['env', 'x']]) {
    const r = await berth(args, {env: {BERTH_STORAGE_PATH: dir}})
    assert.equal(r.code, 1)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.doesNotMatch(r.stderr, /ENOTDIR|ENOENT|EISDIR/)
  }
})

test('shell completion: the bash function completes berth\'s commands', async () => {
  const home = tmpDir('achome')
  const r = await berth(['autocomplete', 'bash'], {env: {HOME: home, XDG_CACHE_HOME: ''}})
  assert.equal(r.code, 0, r.stderr)
  const fn = path.join(home, '.cache', 'berth', 'autocomplete', 'functions', 'bash', 'berth.bash')
  const out = execFileSync('bash', ['-c', `source ${fn}; COMP_WORDS=(berth regen); COMP_CWORD=1; COMP_LINE='berth regen'; _berth_autocomplete; echo "\${COMPREPLY[@]}"`]).toString().trim()
  assert.equal(out, 'regenerate-certs')
})

test('no machine named: the machine called "default" if it exists, else docker-machine\'s line', async () => {
  const root = tmpDir('dflt')
  execFileSync('cp', ['-a', path.join(ROOT, 'test', 'fixtures', 'store-v1', 'machines'), root])
  const env = {BERTH_STORAGE_PATH: root}
  const none = await berth(['inspect'], {env})
  assert.equal(none.code, 1)
  assert.equal(none.stderr, 'berth: No machine name(s) specified and no "default" machine exists.\n')
  const envNone = await berth(['env'], {env})
  assert.equal(envNone.code, 1)
  assert.equal(envNone.stderr, none.stderr)
  execFileSync('mv', [path.join(root, 'machines', 'n1'), path.join(root, 'machines', 'default')])
  const cfg = path.join(root, 'machines', 'default', 'config.json')
  // The fixture's "fake" driver becomes generic: inspect asks the driver for docker-machine's Driver fields.
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/"name": ?"n1"/, '"name":"default"').replace(/"driver": ?"fake"/, '"driver":"generic"')
    .replace(/"driverData": ?\{[^}]*\}/, '"driverData":{"ip":"192.0.2.10","port":22,"user":"root"}'))
  const one = await berth(['inspect'], {env})
  assert.equal(one.code, 0, one.stderr)
  assert.equal(JSON.parse(one.stdout).Name, 'default')
  // A named machine is still that machine.
  assert.equal((await berth(['inspect', 'n1'], {env})).code, 1)
})
