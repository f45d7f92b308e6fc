/**
 * berth as a drop-in docker-machine: run through a `docker-machine` symlink, with docker-machine's
 * variables (MACHINE_STORAGE_PATH, MACHINE_DRIVER, ENGINE_REGISTRY_MIRROR), the spirit of its core
 * integration tests (core-commands, env_shell, inspect_format, engine-options, certs-extra-san,
 * regenerate-certs, scp) on two real lab hosts, reused across the tests.
 */
/* eslint-disable no-control-regex -- the terminal's escape sequences are what the progress test checks */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFile, execFileSync, spawn} from 'node:child_process'
import {existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import tls from 'node:tls'
import {BIN, busyboxTar, isRoot, labLeftovers, tmpDir} from '../helpers.js'

const skip = !isRoot() && 'lab hosts need root'

interface Run {code: number; stdout: string; stderr: string; lines: string[]}

describe('docker-machine drop-in (lab driver)', {skip, concurrency: false}, () => {
  const bin = tmpDir('dmbin')
  const store = tmpDir('dmstore')
  const docker = tmpDir('dmdocker')
  const work = tmpDir('dmwork')
  const env: Record<string, string | undefined> = {
    ...process.env, BERTH_STORAGE_PATH: undefined, BERTH_DRIVER: undefined, BERTH_DEBUG: undefined, DOCKER_HOST: undefined,
    DOCKER_CONTEXT: undefined, DOCKER_TLS_VERIFY: undefined, DOCKER_CERT_PATH: undefined, NO_PROXY: undefined, no_proxy: undefined,
    MACHINE_STORAGE_PATH: store, MACHINE_DRIVER: 'lab', ENGINE_REGISTRY_MIRROR: 'https://mirror.example',
    BERTH_LAB_DIR: tmpDir('dmlab'), BERTH_LAB_SUBNET: '172.30.130.0/24', DOCKER_CONFIG: docker,
    PATH: `${bin}:${process.env.PATH}`,
  }
  const [A, B] = ['n2', 'n10'] // natural order puts n2 first
  const ids: string[] = []

  /** docker-machine ARGS, through the symlink, as a shell script would call it. */
  const dm = (args: string[], extra: Record<string, string | undefined> = {}, timeoutMs = 180_000): Promise<Run> => new Promise(resolve => {
    const child = spawn(path.join(bin, 'docker-machine'), args, {env: {...env, ...extra}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => (stdout += d))
    child.stderr.on('data', d => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({code: code ?? 137, stdout, stderr, lines: stdout.split('\n').filter(Boolean)})
    })
  })
  /** A bash line, with docker-machine and the docker CLI on PATH. */
  const sh = (script: string, extra: Record<string, string | undefined> = {}) => {
    try {
      return {code: 0, out: execFileSync('bash', ['-c', script], {env: {...env, ...extra} as NodeJS.ProcessEnv, cwd: work, timeout: 90_000, stdio: ['pipe', 'pipe', 'pipe']}).toString()}
    } catch (err) {
      const e = err as {status?: number; stdout?: Buffer; stderr?: Buffer}
      return {code: e.status ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}`}
    }
  }
  /** The same, without blocking: creates run side by side. */
  const shAsync = (script: string, extra: Record<string, string | undefined> = {}) => new Promise<{code: number; out: string}>(resolve => {
    execFile('bash', ['-c', script], {env: {...env, ...extra} as NodeJS.ProcessEnv, cwd: work, timeout: 240_000, maxBuffer: 16 << 20}, (err, stdout, stderr) => {
      resolve({code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}`})
    })
  })
  let createA: Run

  before(async () => {
    symlinkSync(BIN, path.join(bin, 'docker-machine'))
    assert.equal((await dm(['inspect', A])).code, 1)
    // docker-machine's engine-options and certs-extra-san hosts in one; classic Swarm flags are noted, not fatal.
    const made = await Promise.all([
      dm(['create', '-d', 'lab', '--engine-label', 'spam=eggs', '--engine-insecure-registry', 'registry.myco.com', '--engine-env=TEST=VALUE',
        '--engine-opt', 'log-driver=json-file', '--engine-opt', 'log-opt=max-size=10m', '--engine-opt', 'dns=192.0.2.53',
        '--tls-san', 'foo.bar.tld', '--tls-san', '10.42.42.42', '--swarm-image', 'swarm:latest', '--swarm-experimental', A]),
      dm(['create', B]),
    ])
    createA = made[0]
    for (const r of made) assert.equal(r.code, 0, r.stderr)
    for (const n of [A, B]) ids.push(JSON.parse(readFileSync(path.join(store, 'machines', n, 'config.json'), 'utf8')).id)
    const tar = path.join(work, 'bb.tar')
    writeFileSync(tar, busyboxTar())
    for (const n of [A, B]) assert.equal(sh(`docker $(docker-machine config ${n}) import ${tar} bb:v1 >/dev/null`).code, 0)
  })

  after(async () => {
    await dm(['rm', '-f', A, B, 'n3', 'n4'])
  })

  test('core-commands: does not exist, already exists, ls -q in natural order, filters, config/url/ip/ssh', async () => {
    // docker-machine's own lines, whole: its tests compare ${lines[0]} with ==, so no "berth: " before them.
    const ghost = await dm(['inspect', 'ghost'])
    assert.equal(ghost.code, 1)
    assert.equal(ghost.stderr, 'Docker machine "ghost" does not exist. Use "docker-machine ls" to list machines. Use "docker-machine create" to add a new one.\n')
    assert.match(createA.stderr, /note: --swarm-image, --swarm-experimental ignored/)
    const [again, bogus, badName, rmGhost, noName] = await Promise.all([
      dm(['create', A]), dm(['create', '-d', 'bogus', 'bogus']), dm(['create', '-d', 'lab', '..']), dm(['rm', '-y', 'ghost']), dm(['url']),
    ])
    assert.equal(again.code, 1)
    assert.equal(again.stderr.split('\n')[0], `Docker machine "${A}" already exists`)
    assert.equal(bogus.stderr.split('\n')[0], 'Driver "bogus" not found. Do you have the plugin binary "docker-machine-driver-bogus" accessible in your PATH?')
    assert.equal(badName.stderr.split('\n')[0], 'Error creating machine: Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -')
    assert.match(rmGhost.stderr.split('\n')[0]!, /^Error removing host "ghost": Docker machine "ghost" does not exist\./)
    assert.equal(noName.stderr, 'Error: No machine name(s) specified and no "default" machine exists.\n')
    for (const r of [again, bogus, badName, rmGhost, noName]) assert.equal(r.code, 1, r.stderr)
    // As berth, the same error keeps berth's prefix.
    const asBerth = execFileSync('bash', ['-c', `${BIN} inspect ghost 2>&1; true`], {env: env as NodeJS.ProcessEnv}).toString()
    assert.equal(asBerth, 'berth: Docker machine "ghost" does not exist\n')
    // Independent reads, in parallel to keep the test short.
    const [all, running, label, name, both, fmt, tbl] = await Promise.all([
      dm(['ls', '-q']), dm(['ls', '-q', '--filter', 'state=Running']), dm(['ls', '-q', '--filter', 'label=spam=eggs']),
      dm(['ls', '-q', '--filter', 'name=^n1']), dm(['ls', '-q', '--filter', 'driver=LAB', '--filter', 'name=2$']),
      dm(['ls', '-f', '{{.Name}} {{.DriverName}} {{.State}} {{.ActiveHost}}']),
      dm(['ls', '--format', 'table {{.Name}}\\t{{.DockerVersion}}\\t{{.ResponseTime}}']),
    ])
    assert.deepEqual(all.lines, [A, B])
    assert.deepEqual(running.lines, [A, B])
    assert.deepEqual(label.lines, [A])
    assert.deepEqual(name.lines, [B])
    assert.deepEqual(both.lines, [A])
    assert.deepEqual(fmt.lines, [`${A} lab Running false`, `${B} lab Running false`])
    const table = tbl.lines
    assert.match(table[0]!, /^NAME\s+DOCKER\s+RESPONSE$/)
    assert.match(table[1]!, new RegExp(`^${A}\\s+v\\d+\\S*\\s+\\d+(ms|\\.?\\d*s)$`))
    const hello = sh(`docker $(docker-machine config ${A}) run --rm bb:v1 echo hello world`)
    assert.equal(hello.out.trim(), 'hello world', hello.out)
    const url = (await dm(['url', A])).stdout.trim()
    const ip = (await dm(['ip', A])).stdout.trim()
    assert.equal(url, `tcp://${ip}:2376`)
    assert.match(ip, /^172\.30\.130\.\d+$/)
    assert.match((await dm(['ssh', A, '--', 'ls', '-la', '/'])).lines[0]!, /^total/)
  })

  test('env_shell: docker-machine\'s lines per shell, --no-proxy, -u, eval and active', async () => {
    const url = (await dm(['url', A])).stdout.trim()
    const ip = (await dm(['ip', A])).stdout.trim()
    const cert = path.join(store, 'machines', A)
    const [bash, ps0, cmd, fish, appended, u, unset, psu, cmdu] = await Promise.all([
      dm(['env', A], {SHELL: '/bin/bash'}), dm(['env', '--shell', 'powershell', '--no-proxy', A]), dm(['env', '--shell', 'cmd', '--no-proxy', A]),
      dm(['env', '--shell', 'fish', '--no-proxy', A]), dm(['env', '--no-proxy', A], {NO_PROXY: 'localhost', SHELL: '/bin/bash'}), dm(['env', '-u', A]),
      dm(['env', '--no-proxy', '-u'], {SHELL: '/bin/bash'}), dm(['env', '--shell', 'powershell', '-u']), dm(['env', '--shell', 'cmd', '-u']),
    ])
    assert.deepEqual(bash.lines, [
      'export DOCKER_TLS_VERIFY="1"', `export DOCKER_HOST="${url}"`, `export DOCKER_CERT_PATH="${cert}"`, `export DOCKER_MACHINE_NAME="${A}"`,
      '# Run this command to configure your shell: ', `# eval $(docker-machine env ${A})`])
    const ps = ps0.lines
    assert.deepEqual(ps.slice(0, 5), ['$Env:DOCKER_TLS_VERIFY = "1"', `$Env:DOCKER_HOST = "${url}"`, `$Env:DOCKER_CERT_PATH = "${cert}"`, `$Env:DOCKER_MACHINE_NAME = "${A}"`, `$Env:NO_PROXY = "${ip}"`])
    assert.equal(cmd.lines[4], `SET NO_PROXY=${ip}`)
    assert.equal(fish.lines[1], `set -gx DOCKER_HOST "${url}";`)
    assert.equal(appended.lines[4], `export NO_PROXY="localhost,${ip}"`)
    assert.equal(u.code, 1)
    assert.match(u.stderr, /Expected no machine name when the -u flag is present/)
    assert.deepEqual(unset.lines.slice(0, 5), ['unset DOCKER_TLS_VERIFY', 'unset DOCKER_HOST', 'unset DOCKER_CERT_PATH', 'unset DOCKER_MACHINE_NAME', 'unset NO_PROXY'])
    assert.equal(psu.lines[0], 'Remove-Item Env:\\\\DOCKER_TLS_VERIFY')
    assert.equal(cmdu.lines[3], 'SET DOCKER_MACHINE_NAME=')
    // Unquoted eval, as the README of every docker-machine tutorial writes it.
    const r = sh(`eval $(docker-machine env ${A}) && docker info --format '{{.Name}}' && docker-machine active && docker-machine ls -f '{{.Name}} {{.Active}}'`, {SHELL: '/bin/bash'})
    assert.equal(r.code, 0, r.out)
    assert.deepEqual(r.out.trim().split('\n'), [A, A, `${A} *`, `${B} -`])
  })

  test('inspect_format: templates with json/prettyjson over docker-machine\'s shape, berth\'s record beside it', async () => {
    const [plain, json, pretty, ssh, ipf, ip, whole, bad] = await Promise.all([
      dm(['inspect', '-f', '{{.DriverName}}', A]), dm(['inspect', '-f', '{{json .DriverName}}', A]), dm(['inspect', '-f', '{{prettyjson .Driver}}', A]),
      dm(['inspect', '-f', '{{.Driver.SSHUser}}:{{.Driver.SSHPort}} {{.Driver.MachineName}}', A]), dm(['inspect', '--format', '{{.Driver.IPAddress}}', A]),
      dm(['ip', A]), dm(['inspect', A]), dm(['inspect', '-f', '{{.Nope}}', A]),
    ])
    assert.equal(plain.stdout, 'lab\n')
    assert.equal(json.stdout, '"lab"\n')
    assert.ok(pretty.lines.length > 1)
    assert.equal(ssh.stdout, `root:22 ${A}\n`)
    assert.equal(ipf.stdout.trim(), ip.stdout.trim())
    const j = JSON.parse(whole.stdout)
    assert.equal(j.Name, A)
    assert.deepEqual(j.HostOptions.EngineOptions.Labels, ['spam=eggs'])
    assert.deepEqual(j.HostOptions.EngineOptions.RegistryMirror, ['https://mirror.example'], 'ENGINE_REGISTRY_MIRROR was read')
    assert.deepEqual(j.HostOptions.AuthOptions.ServerCertSANs, ['foo.bar.tld', '10.42.42.42'])
    assert.equal(j.status, 'ready')
    assert.equal(j.state, 'Running')
    assert.equal(bad.code, 1)
    assert.equal(bad.stderr.trim().split('\n').length, 1)
  })

  test('engine-options: label, insecure registry, env, log options and dns in daemon.json form, mirror', async () => {
    const info = JSON.parse(sh(`docker $(docker-machine config ${A}) info --format '{{json .}}'`).out)
    assert.ok(info.Labels.includes('spam=eggs'))
    assert.ok(JSON.stringify(info.RegistryConfig).includes('registry.myco.com'))
    assert.ok(info.RegistryConfig.Mirrors.some((m: string) => m.startsWith('https://mirror.example')))
    assert.match((await dm(['ssh', A, 'cat /proc/$(pidof dockerd)/environ | tr "\\0" "\\n"'])).stdout, /^TEST=VALUE$/m)
    const run = sh(`D="docker $(docker-machine config ${A})"; $D run --name logged bb:v1 cat /etc/resolv.conf && $D inspect -f '{{json .HostConfig.LogConfig}}' logged`)
    assert.equal(run.code, 0, run.out)
    assert.match(run.out, /nameserver 192\.0\.2\.53/)
    assert.match(run.out, /\{"Type":"json-file","Config":\{"max-size":"10m"\}\}/)
  })

  /** The SANs of the certificate the engine presents, read over mutual TLS. */
  const engineSans = async (name: string): Promise<string> => {
    const [host, port] = (await dm(['url', name])).stdout.trim().replace('tcp://', '').split(':')
    const dir = path.join(store, 'machines', name)
    return new Promise((resolve, reject) => {
      const s = tls.connect({host, port: Number(port), ca: readFileSync(path.join(dir, 'ca.pem')), cert: readFileSync(path.join(dir, 'cert.pem')), key: readFileSync(path.join(dir, 'key.pem')), servername: 'localhost'}, () => {
        resolve(s.getPeerCertificate().subjectaltname ?? '')
        s.end()
      })
      s.on('error', reject)
    })
  }

  test('certs-extra-san and regenerate-certs: SANs survive, docker works after, the docker context follows', async () => {
    assert.match(await engineSans(A), /DNS:foo\.bar\.tld.*IP Address:10\.42\.42\.42/)
    assert.equal(sh(`eval $(docker-machine env --docker-context ${A}) && docker info --format '{{.Name}}'`).out.trim(), A)
    // A new CA and client certificate: every machine must be re-issued, and the context must get the new client files.
    const regen = await dm(['regenerate-certs', '-f', '--client-certs', A, B])
    assert.equal(regen.code, 0, regen.stderr)
    assert.match(await engineSans(A), /DNS:foo\.bar\.tld.*IP Address:10\.42\.42\.42/)
    for (const n of [A, B]) assert.equal(sh(`docker $(docker-machine config ${n}) version --format '{{.Server.Version}}'`).code, 0)
    const ctx = sh(`docker --context berth-${A} info --format '{{.Name}}'`)
    assert.equal(ctx.out.trim(), A, ctx.out)
    assert.equal((await dm(['active'], {DOCKER_CONTEXT: `berth-${A}`})).stdout.trim(), A)
    assert.deepEqual((await dm(['ls', '-f', '{{.Name}}{{.Active}}'], {DOCKER_CONTEXT: `berth-${A}`})).lines, [`${A}*`, `${B}-`])
  })

  test('scp: remote to local, local to remote, machine to machine', async () => {
    await dm(['ssh', A, 'echo A file created remotely! >/tmp/foo.txt'])
    assert.equal((await dm(['scp', `${A}:/tmp/foo.txt`, path.join(work, 'foo.txt')])).code, 0)
    assert.equal(readFileSync(path.join(work, 'foo.txt'), 'utf8'), 'A file created remotely!\n')
    writeFileSync(path.join(work, 'foo.txt'), 'A file created locally!\n')
    assert.equal((await dm(['scp', path.join(work, 'foo.txt'), `${A}:/tmp/foo.txt`])).code, 0)
    assert.equal((await dm(['ssh', A, 'cat', '/tmp/foo.txt'])).stdout, 'A file created locally!\n')
    await dm(['ssh', A, 'echo A file hopping around! >/tmp/hop.txt'])
    const hop = await dm(['scp', `${A}:/tmp/hop.txt`, `${B}:/tmp/hop.txt`])
    assert.equal(hop.code, 0, hop.stderr)
    assert.equal((await dm(['ssh', B, 'cat', '/tmp/hop.txt'])).stdout, 'A file hopping around!\n')
  })

  test('a stopped machine: url/env/config/version fail with "Host is not running"; start twice is an error', async () => {
    assert.equal((await dm(['stop', B])).code, 0)
    assert.match((await dm(['ls'])).stdout.split('\n').find(l => l.startsWith(B))!, /Stopped/)
    const stopped = await Promise.all(['url', 'env', 'config', 'version'].map(async cmd => [cmd, await dm([cmd, B])] as const))
    for (const [cmd, r] of stopped) {
      assert.equal(r.code, 1, cmd)
      assert.match(r.stderr, /Host is not running\. Please start/, cmd)
      assert.equal(r.stdout, '', `${cmd} prints nothing to eval`)
    }
    assert.equal((await dm(['start', B])).code, 0)
    const twice = await dm(['start', B])
    assert.equal(twice.code, 1)
    assert.equal(twice.stderr, `Machine "${B}" is already running.\n`)
    assert.match((await dm(['status', B])).stdout, /Running/)
    assert.match((await dm(['version', B])).stdout, /^\d+\.\d+/)
  })

  test('core-commands kill and restart: Stopped after kill, a second kill fails, restart brings Running and a working engine', async () => {
    const row = async () => (await dm(['ls'])).lines.find(l => l.startsWith(`${B} `)) ?? ''
    const kill = await dm(['kill', B])
    assert.equal(kill.code, 0, kill.stderr)
    assert.match(await row(), /\sStopped(\s|$)/)
    assert.equal((await dm(['status', B])).stdout.trim(), 'Stopped')
    // libmachine's ErrHostAlreadyInState, for kill and stop alike; nothing is done to the host.
    for (const verb of ['kill', 'stop']) {
      const again = await dm([verb, B])
      assert.equal(again.code, 1, verb)
      assert.equal(again.stderr, `Machine "${B}" is already stopped.\n`, verb)
    }
    const restart = await dm(['restart', B])
    assert.equal(restart.code, 0, restart.stderr)
    assert.match(await row(), /\sRunning(\s|$)/)
    assert.equal((await dm(['status', B])).stdout.trim(), 'Running')
    const hello = sh(`docker $(docker-machine config ${B}) run --rm bb:v1 echo after restart`)
    assert.equal(hello.out.trim(), 'after restart', hello.out)
    // Of a running machine too (docker-machine stops it first): the engine answers after.
    const again = await dm(['restart', B])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(sh(`eval $(docker-machine env ${B}) && docker info --format '{{.Name}}'`, {SHELL: '/bin/bash'}).out.trim(), B)
  })

  test('live progress on a terminal, plain lines on a pipe; a create whose pipes are closed finishes; rm takes host and context', async () => {
    // n3 with its output pipe closed at once; n4 on a real pseudo-terminal (util-linux script), side by side.
    const [piped, pty] = await Promise.all([
      shAsync('docker-machine create n3 2>&1 | head -c 0; echo "${PIPESTATUS[0]}"'),
      shAsync('script -qfec "docker-machine create n4" /dev/null </dev/null', {TERM: 'xterm', NO_COLOR: undefined}),
    ])
    assert.equal(piped.out.trim(), '0', piped.out)
    assert.equal(pty.code, 0, pty.out)
    // On the terminal: one line per host redrawn in place (erase line, cursor up), with its elapsed seconds, done in green.
    assert.match(pty.out, /\x1b\[2Kn4\s+\d+s {2}waiting for SSH/)
    assert.match(pty.out, /\x1b\[1A\x1b\[2K/)
    assert.match(pty.out, /\x1b\[32mn4\s+\d+s {2}ready\x1b\[0m/)
    assert.doesNotMatch(pty.out, /^n4: /m, 'no plain progress lines on a terminal')
    // On a pipe (the creates of before()): plain "host: step" lines, not one escape sequence.
    assert.match(createA.stderr, new RegExp(`^${A}: waiting for SSH$`, 'm'))
    assert.match(createA.stderr, new RegExp(`^${A}: ready$`, 'm'))
    assert.doesNotMatch(createA.stderr, /\x1b/)
    assert.deepEqual((await dm(['ls', '-q', '--filter', 'name=^n[34]$', '--filter', 'state=Running'])).lines, ['n3', 'n4'])
    for (const n of ['n3', 'n4']) ids.push(JSON.parse(readFileSync(path.join(store, 'machines', n, 'config.json'), 'utf8')).id)
    const rm = await dm(['rm', '-y', A, B, 'n3', 'n4'])
    assert.equal(rm.code, 0, rm.stderr)
    assert.deepEqual((await dm(['ls', '-q'])).lines, [])
    const meta = path.join(docker, 'contexts', 'meta')
    assert.deepEqual(existsSync(meta) ? readdirSync(meta) : [], [], 'rm took the berth-NAME context')
    assert.deepEqual(labLeftovers(ids), [])
  })
})
