/**
 * The OS families behind the one provisioner interface, over berth's real SSH client against an
 * in-process SSH server: what each one runs to install, upgrade and version the engine, where the
 * install-only proxy goes (a root-only file, removed after; never a command line), and the
 * package lock wait. The Debian family also runs for real in e2e/install.test.ts.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {osProvisioner, pidFileLockHolder, posixLockHolder, reportLockWhile} from '../src/provision/os.js'
import {gatherFacts, provision, upgrade} from '../src/provision/provision.js'
import {connect, generateKeyPair, type SSHSession} from '../src/ssh/index.js'
import {EngineOptions} from '../src/store/record.js'
import {FakeSshd, type FakeSshdOptions} from './fakes/sshd.js'

async function withHost(opts: FakeSshdOptions, fn: (s: SSHSession, host: FakeSshd) => Promise<void>): Promise<FakeSshd> {
  const keys = await generateKeyPair('t')
  const host = await FakeSshd.start(opts)
  host.authorized.push(keys.publicKey)
  const s = await connect({host: '127.0.0.1', port: host.port, user: 'root', privateKey: keys.privateKey, timeoutMs: 5000})
  try {
    await fn(s, host)
  } finally {
    s.close()
    await host.close()
  }
  return host
}

const PROXY = 'http://user:s3cret@10.0.0.1:3142'

test('Fedora: docker-ce from Docker\'s repository with dnf, the proxy in a copy of dnf.conf that is removed after', async () => {
  let installed = false
  let proxyConf = ''
  const host = await withHost({
    files: {'/etc/os-release': 'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"\n', '/etc/dnf/dnf.conf': '[main]\ngpgcheck=True\n'},
    exec: (cmd, h) => {
      if (cmd.includes('hostname')) return {code: 0, stdout: 'f1\n10.0.0.5\n'}
      if (cmd.startsWith('cat /etc/dnf/berth-install-proxy.conf')) return {code: 0, stdout: '[main]\ngpgcheck=True\n'}
      if (cmd.includes('. /etc/os-release')) return {code: 0, stdout: 'fedora\n'}
      if (cmd.includes('dnf') && cmd.includes('install docker-ce')) {
        proxyConf = h.text('/etc/dnf/berth-install-proxy.conf') ?? ''
        installed = true
        h.files.set('/usr/bin/dockerd', {data: Buffer.alloc(0), mode: 0o755})
      }
      return undefined
    },
  }, async s => {
    const facts = await gatherFacts(s)
    assert.equal(osProvisioner(facts.os).family, 'redhat')
    const steps: string[] = []
    await osProvisioner(facts.os).installEngine({s, proxy: PROXY, step: m => steps.push(m)})
    assert.deepEqual(steps, ['dnf install docker-ce'])
  })
  assert.ok(installed)
  assert.match(proxyConf, /^\[main\]\ngpgcheck=True\nproxy=http:\/\/user:s3cret@10\.0\.0\.1:3142\n$/)
  const dnf = host.commands.find(c => c.includes('install docker-ce'))!
  assert.match(dnf, /dnf --config=\/etc\/dnf\/berth-install-proxy\.conf -y install dnf-plugins-core && dnf --config=\S+ config-manager --add-repo '?https:\/\/download\.docker\.com\/linux\/fedora\/docker-ce\.repo'? && dnf --config=\S+ -y install docker-ce docker-ce-cli containerd\.io/)
  assert.ok(host.commands.some(c => c === 'rm -f /etc/dnf/berth-install-proxy.conf'), 'the proxy file is removed')
  for (const c of host.commands) assert.ok(!c.includes('s3cret'), `no proxy credentials in a command line: ${c}`)
})

test('Debian: docker.io with apt (lock timeout), the proxy in apt.conf.d for the install only; "none" refuses; Alpine writes nothing', async () => {
  let aptConf = ''
  const host = await withHost({
    files: {'/etc/os-release': 'ID=debian\nVERSION_CODENAME=bookworm\n'},
    exec: (cmd, h) => {
      if (cmd.includes('hostname')) return {code: 0, stdout: 'd1\n10.0.0.6\n'}
      if (cmd.includes('install -y --no-install-recommends docker.io')) {
        aptConf = h.text('/etc/apt/apt.conf.d/00berth-install-proxy') ?? ''
        h.files.set('/usr/bin/dockerd', {data: Buffer.alloc(0), mode: 0o755})
      }
      return undefined
    },
  }, async (s, h) => {
    const ca = {certPem: '', keyPem: ''}
    const input = {machineName: 'd1', driverName: 'lab', ip: '10.0.0.6', addresses: [], ca}
    await assert.rejects(provision(s, {...input, engine: EngineOptions.parse({installUrl: 'none'})}), /^UserError: Docker is not installed on the host and --engine-install-url is "none"/)
    const steps: string[] = []
    await provision(s, {...input, engine: EngineOptions.parse({installProxy: PROXY}), step: m => steps.push(m)}).catch(() => {}) // certificates need a real CA: the install is what is looked at
    assert.ok(steps.includes('installing Docker (debian packages, through the install proxy)'), steps.join('\n'))
    h.files.delete('/usr/bin/dockerd')
  })
  assert.equal(aptConf, `Acquire::http::Proxy "${PROXY}";\nAcquire::https::Proxy "${PROXY}";\n`)
  const apt = host.commands.find(c => c.includes('docker.io'))!
  assert.match(apt, /apt-get -q -o DPkg::Lock::Timeout=600 -o APT::Update::Error-Mode=any update && .*apt-get -q -o DPkg::Lock::Timeout=600 install -y --no-install-recommends docker\.io/)
  assert.ok(host.commands.includes('rm -f /etc/apt/apt.conf.d/00berth-install-proxy'))
  for (const c of host.commands) assert.ok(!c.includes('s3cret'), c)

  const alpine = await withHost({files: {'/etc/os-release': 'ID=alpine\nPRETTY_NAME="Alpine Linux v3.20"\n'}, exec: cmd => (cmd.includes('hostname') ? {code: 0, stdout: 'a\n'} : undefined)}, async s => {
    await assert.rejects(provision(s, {machineName: 'a', driverName: 'lab', ip: '10.0.0.7', addresses: [], ca: {certPem: '', keyPem: ''}, engine: EngineOptions.parse({})}), /unsupported OS "Alpine Linux v3.20": berth provisions Debian, Ubuntu, Fedora/)
  })
  assert.ok(alpine.commands.every(c => !c.includes('mkdir')), `nothing is written to an unsupported host: ${alpine.commands}`)
  assert.deepEqual([...alpine.files.keys()], ['/etc/os-release'])
})

test('Debian upgrade: the packages apt would change are upgraded (the client split out of docker.io comes along) and the engine restarted; none: "already newest", no restart', async () => {
  for (const candidate of ['20.10.25+dfsg1-1', '20.10.24+dfsg1-1', '26.1.5+dfsg1-9']) {
    let upgraded = false
    const cli = () => candidate.startsWith('26') ? `docker-cli:\n  Installed: ${upgraded ? candidate : '(none)'}\n  Candidate: ${candidate}\n` : ''
    const policy = () => `docker.io:\n  Installed: ${upgraded ? candidate : '20.10.24+dfsg1-1'}\n  Candidate: ${candidate}\n${cli()}containerd:\n  Installed: 1.6.20~ds1-1\n  Candidate: 1.6.20~ds1-1\ndocker-ce:\n  Installed: (none)\n  Candidate: (none)\n`
    const host = await withHost({
      files: {'/etc/os-release': 'ID=debian\n', '/usr/bin/dockerd': ''},
      exec: cmd => {
        if (cmd.includes('hostname')) return {code: 0, stdout: 'd\n'}
        if (cmd.includes('--force-confold')) upgraded = true
        if (cmd.includes('apt-cache policy')) return {code: 0, stdout: policy()}
        return undefined
      },
    }, async s => {
      const r = await upgrade(s, EngineOptions.parse({}))
      assert.deepEqual(r.from, {'docker.io': '20.10.24+dfsg1-1', containerd: '1.6.20~ds1-1'})
      assert.equal(r.changed, candidate !== '20.10.24+dfsg1-1')
      if (r.changed) assert.equal(r.to['docker.io'], candidate)
    })
    const up = host.commands.filter(c => c.includes('--force-confold'))
    const restarts = host.commands.filter(c => c.includes('setsid'))
    if (candidate === '20.10.24+dfsg1-1') {
      assert.deepEqual(up, [])
      assert.deepEqual(restarts, [], 'already newest: the engine is left running')
    } else {
      assert.equal(up.length, 1)
      const pkgs = candidate.startsWith('26') ? 'docker\\.io docker-cli' : 'docker\\.io'
      assert.match(up[0], new RegExp(`install -y --no-install-recommends ${pkgs}$`), 'only the package with a newer candidate (and the client split out of it)')
      assert.equal(restarts.length, 1)
    }
  }
})

test('the lock probes name the process holding a POSIX lock (apt, dpkg) or a live PID file (dnf), and nothing when free', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-locks-'))
  try {
    const lock = path.join(dir, 'lock-frontend')
    const free = path.join(dir, 'lock')
    writeFileSync(free, '')
    const holder = spawn('perl', ['-MFcntl', '-e', 'open(my $f, ">>", $ARGV[0]) or die; my $l = pack("ssx4qqix4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLK, $l) or die; print "held\\n"; $| = 1; sleep 30', lock], {stdio: ['ignore', 'pipe', 'inherit']})
    await new Promise(resolve => holder.stdout.once('data', resolve))
    try {
      const sh = (script: string) => execFileSync('sh', ['-c', script]).toString().trim()
      assert.equal(sh(posixLockHolder([free, lock])), `${holder.pid} perl`)
      assert.equal(sh(posixLockHolder([free])), '')
      const pidFile = path.join(dir, 'rpmdb_lock.pid')
      writeFileSync(pidFile, `${holder.pid}\n`)
      assert.equal(sh(pidFileLockHolder([path.join(dir, 'absent'), pidFile])), `${holder.pid} perl`)
      writeFileSync(pidFile, '999999999\n')
      assert.equal(sh(pidFileLockHolder([pidFile])), '')
    } finally {
      holder.kill('SIGKILL')
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('while a VM boots, a lock taken by another package manager (cloud-init) is named when seen and its wait measured when freed', async () => {
  const t0 = Date.now()
  // Held from 0.5 s to 2.5 s into a 3.5 s boot, as cloud-init's package_update takes it after sshd is up.
  const remote = {
    run: async (cmd: string) => {
      assert.equal(cmd, osProvisioner({ID: 'debian'}).lockHolder)
      const t = Date.now() - t0
      return t > 500 && t < 2500 ? '812 apt-get\n' : ''
    },
    exec: async () => ({code: 0, stdout: '', stderr: ''}),
    writeFile: async () => {},
  }
  const steps: string[] = []
  const boot = new Promise<string>(resolve => setTimeout(() => resolve('booted'), 3500))
  assert.equal(await reportLockWhile({s: remote, step: m => steps.push(m)}, osProvisioner({ID: 'debian'}).lockHolder, boot), 'booted')
  assert.equal(steps.length, 2, steps.join('; '))
  assert.match(steps[0], /^waiting for the package lock: held by process 812 \(apt-get\) while the host boots/)
  const waited = Number(/^package lock free after a wait of (\d+\.\d) s$/.exec(steps[1])?.[1])
  assert.ok(waited >= 0.9 && waited <= 2.5, steps[1])
  // A boot that fails is the caller's error, as it would be without the watch.
  await assert.rejects(reportLockWhile({s: remote, step: () => {}}, 'true', Promise.reject(new Error('boot failed'))), /boot failed/)
})
