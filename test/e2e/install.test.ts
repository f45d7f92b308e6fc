/**
 * Docker installed for real, on lab hosts that boot on a Debian tree of their own without Docker
 * (`berth lab build-image`, bookworm and trixie, cached across runs): `auto` while another process
 * holds the apt lock (berth waits and says so), a get.docker.com-style script served on the bridge,
 * trixie's split packages, failing scripts and `none` rolled back, an Alpine tree refused by name,
 * and `berth upgrade`: a no-op on a live and on a stopped machine, and a real one from bookworm's
 * engine to trixie's (apt pinning) that keeps the TLS config and the containers. apt reaches
 * Debian's mirror only through an apt-cacher-ng on the bridge address.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {bridgeName, ensureBridge, maybeRemoveBridge} from '../../drivers/lab/network.js'
import {ACNG, type AptProxy, startAptProxy} from '../aptproxy.js'
import {ensureLabImage, labImage} from '../hostimages.js'
import {berth, busyboxTar, docker, dockerEnv, isRoot, labLeftovers, tmpDir} from '../helpers.js'

const SUBNET = '172.30.140.0/24'
const BRIDGE_IP = '172.30.140.1'
const has = (f: string) => existsSync(f)
const skip = !isRoot() ? 'lab hosts need root' : !has(ACNG) ? 'needs apt-cacher-ng' : !has('/usr/sbin/debootstrap') ? 'needs debootstrap' : false

const IMAGE = labImage('bookworm')
const TRIXIE = labImage('trixie')
const secs = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1)

/** A tree that shares the image's files (hard links: the lower layer is never written) with some replaced. */
function variant(dir: string, files: Record<string, {text: string; mode?: number}>): string {
  execFileSync('cp', ['-al', IMAGE, dir])
  for (const [f, {text, mode}] of Object.entries(files)) {
    rmSync(path.join(dir, f), {force: true}) // a new inode, never the shared one
    writeFileSync(path.join(dir, f), text, {mode: mode ?? 0o644})
  }
  return dir
}

// Holds dpkg's frontend lock from first boot for 10 s, as cloud-init's package_update does.
const HOLD_LOCK = `#!/bin/sh
perl -e 'use Fcntl; open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die "$!"; my $l = pack("ssx4qqix4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLK, $l) or die "lock: $!"; open(my $o, ">", "/run/apt-lock-held"); close $o; sleep 10' &
while [ ! -e /run/apt-lock-held ]; do sleep 0.1; done
`

const INSTALL_SH = `#!/bin/sh
# A get.docker.com-style script: detect the distribution, install its engine package.
set -e
. /etc/os-release
case "$ID" in debian|ubuntu) ;; *) echo "unsupported distribution $ID" >&2; exit 1 ;; esac
export DEBIAN_FRONTEND=noninteractive
apt-get -q update
apt-get -q install -y --no-install-recommends docker.io
`

describe('Docker installed by berth on lab hosts without it', {skip, concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('install-store'), BERTH_LAB_DIR: tmpDir('install-lab'), BERTH_LAB_SUBNET: SUBNET}
  const trees = tmpDir('install-trees')
  let proxy: AptProxy | undefined
  let server: http.Server | undefined
  let scriptUrl = ''
  const fetched: string[] = []
  const made = ['i1', 'i2', 'i3', 'bad1', 'bad2', 'bad3', 'alp']
  const ids: string[] = []
  const config = (n: string) => JSON.parse(readFileSync(path.join(env.BERTH_STORAGE_PATH, 'machines', n, 'config.json'), 'utf8'))
  const ssh = async (n: string, cmd: string) => {
    const r = await berth(['ssh', n, cmd], {env})
    assert.equal(r.code, 0, r.stderr)
    return r.stdout.trim()
  }
  let lockImage = ''
  let alpine = ''
  const created: Record<string, {code: number; stderr: string; seconds: string}> = {}

  before(async () => {
    await ensureBridge(SUBNET, bridgeName(SUBNET))
    proxy = await startAptProxy({bind: ['127.0.0.1', BRIDGE_IP], cache: 'lab'})
    const built = await Promise.all((['bookworm', 'trixie'] as const).map(suite => ensureLabImage(proxy!.url('127.0.0.1'), suite)))
    built.forEach((s, i) => s !== undefined && console.log(`# lab image ${i ? TRIXIE : IMAGE} built in ${s} s`))
    lockImage = variant(path.join(trees, 'cloudlike'), {'etc/rc.local': {text: HOLD_LOCK, mode: 0o755}})
    alpine = variant(path.join(trees, 'alpine'), {'etc/os-release': {text: 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n'}})
    server = http.createServer((req, res) => {
      fetched.push(`${req.socket.remoteAddress} ${req.url}`)
      const body = {'/install.sh': INSTALL_SH, '/fail.sh': '#!/bin/sh\necho "E: Unable to locate package docker-ce" >&2\nexit 3\n', '/noop.sh': '#!/bin/sh\necho "nothing to do"\n'}[req.url ?? '']
      res.writeHead(body ? 200 : 404).end(body ?? 'not found')
    })
    await new Promise<void>(resolve => server!.listen(0, BRIDGE_IP, resolve))
    scriptUrl = `http://${BRIDGE_IP}:${(server.address() as AddressInfo).port}`
  })

  after(async () => {
    await berth(['rm', '-f', '-y', ...made], {env, timeoutMs: 120_000})
    server?.close()
    await proxy?.stop()
    await maybeRemoveBridge(bridgeName(SUBNET)).catch(() => {})
    rmSync(trees, {recursive: true, force: true})
  })

  const create = async (name: string, args: string[]) => {
    const t0 = Date.now()
    const r = await berth(['create', '-d', 'lab', ...args, name], {env, timeoutMs: 600_000})
    created[name] = {code: r.code, stderr: r.stderr, seconds: secs(t0)}
    return r
  }

  test('auto (apt lock held at first boot), an install script, and auto on trixie: all three hosts get Docker, over mutual TLS', async () => {
    const proxyUrl = proxy!.url(BRIDGE_IP)
    const [a, b, c] = await Promise.all([
      create('i1', ['--lab-image', lockImage, '--engine-install-proxy', proxyUrl]),
      create('i2', ['--lab-image', IMAGE, '--engine-install-url', `${scriptUrl}/install.sh`, '--engine-install-proxy', proxyUrl]),
      create('i3', ['--lab-image', TRIXIE, '--engine-install-proxy', proxyUrl]),
    ])
    console.log(`# create with Docker install: auto ${created.i1.seconds} s (10 s of it the apt lock), install script ${created.i2.seconds} s, trixie ${created.i3.seconds} s`)
    assert.equal(a.code, 0, a.stderr)
    assert.equal(b.code, 0, b.stderr)
    assert.equal(c.code, 0, c.stderr)
    ids.push(config('i1').id, config('i2').id, config('i3').id)
    // berth said it was waiting, named the holder, and how long the wait was.
    assert.match(a.stderr, /i1: waiting for the package lock: held by process \d+ \(perl\)/)
    const waited = Number(/i1: package lock free after a wait of (\d+\.\d) s/.exec(a.stderr)?.[1])
    assert.ok(waited > 2, `logged wait > 0 s: ${waited}`)
    assert.match(a.stderr, /i1: installing Docker \(debian packages, through the install proxy\)/)
    assert.match(b.stderr, new RegExp(`i2: installing Docker \\(${scriptUrl}/install.sh`))
    assert.ok(fetched.some(f => f.endsWith(' /install.sh') && f.includes('172.30.140.')), `the host fetched the script: ${fetched}`)
    const tar = busyboxTar()
    for (const n of ['i1', 'i2', 'i3']) {
      // The host is the tree: its OS, and a dockerd that apt installed (the box's is not visible in it).
      assert.match(await ssh(n, '. /etc/os-release; echo $ID $VERSION_CODENAME; dpkg-query -W -f="\\${Status}" docker.io'), new RegExp(`^debian ${n === 'i3' ? 'trixie' : 'bookworm'}\ninstall ok installed$`))
      const e = await dockerEnv(n, env)
      assert.equal(e.DOCKER_TLS_VERIFY, '1')
      assert.equal(docker(['import', '-', 'bb:1'], e, tar).code, 0)
      const r = docker(['run', '--rm', 'bb:1', 'echo', `hello from ${n}`], e)
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout.trim(), `hello from ${n}`)
    }
  })

  test('trixie: the client (docker-cli, a package of its own there) came along, and iptables-nft publishes ports', async () => {
    const out = await ssh('i3', 'dpkg-query -W -f="\\${Package} \\${Status}\\n" containerd docker-cli; docker version --format "{{.Client.Version}} {{.Server.Version}}"; iptables -V')
    assert.match(out, /^containerd install ok installed\ndocker-cli install ok installed\n(2[6-9]|[3-9]\d)\.\S+ \S+\niptables v1\.8\.\d+ \(nf_tables\)$/)
    const e = await dockerEnv('i3', env)
    const web = docker(['run', '-d', '--rm', '-p', '8080:80', 'bb:1', 'httpd', '-f', '-p', '80', '-h', '/etc'], e)
    assert.equal(web.code, 0, web.stderr)
    const addr = String(config('i3').driverData.ip)
    let body = ''
    for (let i = 0; i < 20 && !body; i++) {
      const r = await fetch(`http://${addr}:8080/hostname`).then(x => x.text(), () => '')
      body = r.trim()
      if (!body) await new Promise(res => setTimeout(res, 250))
    }
    assert.match(body, /^[0-9a-f]{12}$/, 'the container answered on the published port (iptables-nft DNAT)')
    docker(['rm', '-f', web.stdout.trim()], e)
  })

  test('the install proxy was for the install only: not in the engine\'s environment, apt\'s config removed', async () => {
    for (const n of ['i1', 'i2', 'i3']) {
      const out = await ssh(n, 'ls /etc/apt/apt.conf.d; echo --; cat /etc/docker/berth.env; echo --; tr "\\0" "\\n" < /proc/$(cat /var/run/docker.pid)/environ | grep -ic proxy || true')
      const [conf, engineEnv, count] = out.split('--').map(s => s.trim())
      assert.doesNotMatch(conf, /berth/)
      assert.doesNotMatch(engineEnv, /proxy/i)
      assert.equal(count, '0')
      assert.doesNotMatch(JSON.stringify(config(n).engine.env), /proxy/i)
    }
  })

  test('a failing install script, one that installs nothing, and "none" are one line each, leaving nothing', async () => {
    const cases = [
      ['bad1', ['--engine-install-url', `${scriptUrl}/fail.sh`], new RegExp(`^berth: the install script ${scriptUrl}/fail.sh failed \\(exit 3\\): E: Unable to locate package docker-ce$`, 'm')],
      ['bad2', ['--engine-install-url', `${scriptUrl}/noop.sh`], new RegExp(`^berth: the install script ${scriptUrl}/noop.sh finished but dockerd is not on the host$`, 'm')],
      ['bad3', ['--engine-install-url', 'none'], /^berth: Docker is not installed on the host and --engine-install-url is "none"/m],
    ] as const
    const rs = await Promise.all(cases.map(([n, args]) => create(n, ['--lab-image', IMAGE, ...args])))
    rs.forEach((r, i) => {
      assert.notEqual(r.code, 0)
      assert.match(r.stderr, cases[i][2])
      assert.equal(r.stderr.split('\n').filter(l => l.startsWith('berth:')).length, 1)
    })
    assert.deepEqual(readdirSync(path.join(env.BERTH_STORAGE_PATH, 'machines')).sort(), ['i1', 'i2', 'i3'])
    assert.deepEqual(readdirSync(env.BERTH_LAB_DIR).filter(f => !f.startsWith('.')).sort(), [...ids].sort())
  })

  test('an Alpine tree is refused by name, with the supported OSes, and rolled back', async () => {
    const r = await create('alp', ['--lab-image', alpine])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /^berth: unsupported OS "Alpine Linux v3.20": berth provisions Debian, Ubuntu, .* hosts$/m)
    assert.doesNotMatch(r.stderr, /installing|certificates/)
    assert.deepEqual(readdirSync(path.join(env.BERTH_STORAGE_PATH, 'machines')).sort(), ['i1', 'i2', 'i3'])
  })

  test('upgrade: already newest leaves the engine running; a stopped machine is started first', async () => {
    const pid = await ssh('i1', 'cat /var/run/docker.pid')
    const u = await berth(['upgrade', 'i1'], {env, timeoutMs: 300_000})
    assert.equal(u.code, 0, u.stderr)
    assert.match(u.stdout, /^i1: already newest \(docker\.io \S+.*\); engine \d+\.\d+\.\S+ left running$/m)
    assert.equal(await ssh('i1', 'cat /var/run/docker.pid'), pid, 'the engine was not restarted')
    assert.equal((await berth(['stop', 'i2'], {env})).code, 0)
    assert.equal((await berth(['status', 'i2'], {env})).stdout.trim(), 'Stopped')
    const j = await berth(['upgrade', '--json', 'i2'], {env, timeoutMs: 300_000})
    assert.equal(j.code, 0, j.stderr)
    const [rep] = JSON.parse(j.stdout)
    assert.equal(rep.started, true)
    assert.equal(rep.changed, false)
    assert.match(rep.from['docker.io'], /^\d/)
    const e = await dockerEnv('i2', env)
    const run = docker(['run', '--rm', 'bb:1', 'true'], e)
    assert.equal(run.code, 0, `engine answers over mutual TLS after the upgrade: ${run.stderr}`)
  })

  test('upgrade that changes the engine: bookworm\'s docker.io to trixie\'s (pinned), TLS config, data and containers kept', async () => {
    const e = await dockerEnv('i1', env)
    // As docker-machine's upgrade (a package upgrade and an engine restart): what has a restart policy runs again, the rest stays, data too.
    assert.equal(docker(['run', '-d', '--name', 'keep', '--restart', 'always', '-v', 'data:/d', 'bb:1', 'sh', '-c', 'echo run >> /d/runs; exec sleep 100000'], e).code, 0)
    assert.equal(docker(['run', '--name', 'once', 'bb:1', 'true'], e).code, 0)
    const version = (x: Record<string, string>) => docker(['version', '--format', '{{.Server.Version}}'], x).stdout.trim()
    const before = version(e)
    const tls = 'sha256sum /etc/docker/daemon.json /etc/docker/ca.pem /etc/docker/server.pem /etc/docker/server-key.pem'
    const tlsBefore = await ssh('i1', tls)
    // The host's sources offer a newer engine: trixie's docker.io, containerd and client pinned above bookworm, nothing else.
    await ssh('i1', [
      'echo "deb http://deb.debian.org/debian trixie main" > /etc/apt/sources.list.d/trixie.list',
      'printf "Package: *\\nPin: release n=trixie\\nPin-Priority: 100\\n\\nPackage: docker.io docker-cli containerd\\nPin: release n=trixie\\nPin-Priority: 990\\n" > /etc/apt/preferences.d/engine-from-trixie',
    ].join(' && '))
    const t0 = Date.now()
    const u = await berth(['upgrade', 'i1'], {env, timeoutMs: 600_000})
    console.log(`# upgrade bookworm -> trixie engine in ${secs(t0)} s`)
    assert.equal(u.code, 0, u.stderr)
    const after = version(e)
    assert.match(before, /^20\.10\./)
    assert.match(after, /^(2[6-9]|[3-9]\d)\./)
    const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    assert.match(u.stdout, new RegExp(`^i1: upgraded docker\\.io 20\\.10\\.\\S+, containerd 1\\.6\\.\\S+ -> docker\\.io ${esc(after)}\\S*, docker-cli \\S+, containerd 1\\.7\\.\\S+; engine ${esc(before)} -> ${esc(after)} answering over TLS$`, 'm'))
    assert.equal(await ssh('i1', tls), tlsBefore, 'daemon.json and the certificates are the ones berth wrote')
    assert.equal((await dockerEnv('i1', env)).DOCKER_TLS_VERIFY, '1')
    let keep = ''
    for (let i = 0; i < 40 && !keep.startsWith('running'); i++) {
      keep = docker(['inspect', '-f', '{{.State.Status}} {{.RestartCount}}', 'keep'], e).stdout.trim()
      if (!keep.startsWith('running')) await new Promise(res => setTimeout(res, 250))
    }
    assert.match(keep, /^running/, 'the restart=always container runs again on the new engine')
    assert.equal(docker(['inspect', '-f', '{{.State.Status}}', 'once'], e).stdout.trim(), 'exited', 'an exited container is still there')
    const runs = docker(['run', '--rm', '-v', 'data:/d', 'bb:1', 'cat', '/d/runs'], e)
    assert.equal(runs.stdout.trim(), 'run\nrun', `the volume kept its data, written once before and once after: ${runs.stderr}`)
    assert.match(await ssh('i1', 'docker version --format "{{.Client.Version}}"'), /^(2[6-9]|[3-9]\d)\./, 'the client on the host came along (docker-cli)')
    assert.equal(docker(['rm', '-f', 'keep', 'once'], e).code, 0)
  })

  test('rm leaves no host behind', async () => {
    const r = await berth(['rm', '-f', '-y', 'i1', 'i2', 'i3'], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(labLeftovers(ids), [])
    assert.deepEqual(readdirSync(env.BERTH_LAB_DIR).filter(f => !f.startsWith('.')), [])
  })
})
