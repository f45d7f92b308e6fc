/**
 * Adopting docker-machine machines, and moving a machine between stores in an encrypted file,
 * around a real lab host. The docker-machine store is built by hand in docker-machine's own
 * on-disk layout (certs/, machines/NAME/ with a ConfigVersion 3 config.json as libmachine's
 * filestore writes it, an RSA id_rsa, openssl-made RSA certificates of a CA of its own), and the
 * host's engine is moved onto that CA, so only the docker-machine certificates reach it.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import {appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {berth, docker, dockerEnv, isRoot, labLeftovers, sleep, tmpDir} from '../helpers.js'
import {ensureStoreCerts} from '../../src/certs/index.js'

const skip = !isRoot() && 'lab hosts need root'

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, {cwd, stdio: ['ignore', 'pipe', 'pipe']})

/** A CA, a client and a server certificate as docker-machine makes them (RSA 2048, CA-signed). */
function dmCerts(certs: string, machine: string, ip: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '30', '-subj', '/O=root'], certs)
  const sign = (dir: string, key: string, cert: string, subj: string, ext: string) => {
    writeFileSync(path.join(dir, 'ext.cnf'), ext)
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', 'req.csr', '-subj', subj], dir)
    openssl(['x509', '-req', '-in', 'req.csr', '-CA', path.join(certs, 'ca.pem'), '-CAkey', path.join(certs, 'ca-key.pem'), '-CAcreateserial', '-out', cert, '-days', '30', '-extfile', 'ext.cnf'], dir)
    for (const f of ['ext.cnf', 'req.csr']) execFileSync('rm', ['-f', path.join(dir, f)])
  }
  sign(certs, 'key.pem', 'cert.pem', '/O=root.<bootstrap>', 'extendedKeyUsage=clientAuth\n')
  sign(machine, 'server-key.pem', 'server.pem', '/O=root.dm1', `extendedKeyUsage=serverAuth\nsubjectAltName=IP:${ip},DNS:localhost\n`)
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(path.join(machine, f), readFileSync(path.join(certs, f)))
  execFileSync('rm', ['-f', path.join(certs, 'ca.srl')])
}

/** config.json as docker-machine 0.16 writes it for `create -d generic` (json.MarshalIndent, four spaces). */
function dmConfig(root: string, name: string, ip: string): string {
  const m = path.join(root, 'machines', name)
  const c = path.join(root, 'certs')
  return JSON.stringify({
    ConfigVersion: 3,
    Driver: {
      IPAddress: ip, MachineName: name, SSHUser: 'root', SSHPort: 22, SSHKeyPath: path.join(m, 'id_rsa'), StorePath: root,
      SwarmMaster: true, SwarmHost: 'tcp://0.0.0.0:3376', SwarmDiscovery: 'token://0123abcd', EnginePort: 2376, SSHKey: '/root/.ssh/id_rsa',
    },
    DriverName: 'generic',
    HostOptions: {
      Driver: '', Memory: 0, Disk: 0,
      EngineOptions: {
        ArbitraryFlags: [], Dns: null, GraphDir: '', Env: [], Ipv6: false, InsecureRegistry: [], Labels: ['env=dm'], LogLevel: '',
        StorageDriver: '', SelinuxEnabled: false, TlsVerify: true, RegistryMirror: [], InstallURL: 'https://get.docker.com',
      },
      SwarmOptions: {
        IsSwarm: true, Address: '', Discovery: 'token://0123abcd', Agent: true, Master: true, Host: 'tcp://0.0.0.0:3376', Image: 'swarm:latest',
        Strategy: 'spread', Heartbeat: 0, Overcommit: 0, ArbitraryFlags: [], ArbitraryJoinFlags: [], Env: null, IsExperimental: false,
      },
      AuthOptions: {
        CertDir: c, CaCertPath: path.join(c, 'ca.pem'), CaPrivateKeyPath: path.join(c, 'ca-key.pem'), CaCertRemotePath: '',
        ServerCertPath: path.join(m, 'server.pem'), ServerKeyPath: path.join(m, 'server-key.pem'), ClientKeyPath: path.join(c, 'key.pem'),
        ServerCertRemotePath: '', ServerKeyRemotePath: '', ClientCertPath: path.join(c, 'cert.pem'), ServerCertSANs: [], StorePath: m,
      },
    },
    Name: name,
  }, null, 4)
}

/** Every file of a tree with its content hash, mode and mtime: "nothing changed" made checkable. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string) => {
    for (const e of readdirSync(d, {withFileTypes: true})) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else {
        const st = statSync(p)
        out[path.relative(dir, p)] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${st.mode.toString(8)} ${st.mtimeMs}`
      }
    }
  }
  walk(dir)
  return out
}

describe('docker-machine import and encrypted export', {skip, concurrency: false}, () => {
  const lab = {BERTH_STORAGE_PATH: tmpDir('dmi-lab'), BERTH_LAB_DIR: tmpDir('dmi-labdir'), BERTH_LAB_SUBNET: '172.30.135.0/24'}
  const dm = tmpDir('dmi-dm')
  const store2 = {BERTH_STORAGE_PATH: tmpDir('dmi-s2'), MACHINE_STORAGE_PATH: dm}
  const store3 = {BERTH_STORAGE_PATH: tmpDir('dmi-s3')}
  /** A berth store given docker-machine's RSA CA and client certificate through MACHINE_TLS_*, its own lab. */
  const store4 = {BERTH_STORAGE_PATH: tmpDir('dmi-s4'), BERTH_LAB_DIR: tmpDir('dmi-labdir4'), BERTH_LAB_SUBNET: '172.30.185.0/24'}
  const ids: string[] = []
  const bundle = path.join(tmpDir('dmi-x'), 'dm1.berth')
  const machine = path.join(dm, 'machines', 'dm1')
  let ip = ''
  let labId = ''
  let before0: Record<string, string> = {}

  before(async () => {
    const r = await berth(['create', 'dmhost'], {env: lab})
    assert.equal(r.code, 0, r.stderr)
    ip = (await berth(['ip', 'dmhost'], {env: lab})).stdout.trim()
    labId = JSON.parse(readFileSync(path.join(lab.BERTH_STORAGE_PATH, 'machines', 'dmhost', 'config.json'), 'utf8')).id
    // docker-machine's store, from nothing but the host's address.
    mkdirSync(path.join(dm, 'certs'), {recursive: true, mode: 0o700})
    mkdirSync(machine, {recursive: true, mode: 0o700})
    dmCerts(path.join(dm, 'certs'), machine, ip)
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-C', 'docker-machine', '-f', path.join(machine, 'id_rsa')])
    writeFileSync(path.join(machine, 'config.json'), dmConfig(dm, 'dm1', ip), {mode: 0o600})
    // The host now takes docker-machine's key, and its engine docker-machine's CA and server certificate.
    const keys = execFileSync('find', [lab.BERTH_LAB_DIR, '-path', '*/ssh/authorized_keys']).toString().trim()
    appendFileSync(keys, readFileSync(path.join(machine, 'id_rsa.pub')))
    for (const [from, to] of [[path.join(dm, 'certs', 'ca.pem'), 'ca.pem'], [path.join(machine, 'server.pem'), 'server.pem'], [path.join(machine, 'server-key.pem'), 'server-key.pem']]) {
      const c = await berth(['scp', from, `dmhost:/etc/docker/${to}`], {env: lab})
      assert.equal(c.code, 0, c.stderr)
    }
    const restart = 'pid=$(cat /var/run/docker.pid); kill $pid; while kill -0 $pid 2>/dev/null; do sleep 0.1; done; ' +
      'setsid -f sh -c \'set -a; [ -f /etc/docker/berth.env ] && . /etc/docker/berth.env; set +a; exec dockerd\' </dev/null >>/var/log/docker.log 2>&1'
    const s = await berth(['ssh', 'dmhost', '--', restart], {env: lab})
    assert.equal(s.code, 0, s.stderr)
    const dmEnv = {DOCKER_HOST: `tcp://${ip}:2376`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: machine}
    for (let i = 0; i < 100 && docker(['version', '--format', '{{.Server.Version}}'], dmEnv).code !== 0; i++) await sleep(200)
    assert.equal(docker(['info', '--format', '{{.Name}}'], dmEnv).stdout.trim(), 'dmhost', 'the engine answers docker-machine\'s certificates')
    const berthCerts = {...dmEnv, DOCKER_CERT_PATH: path.join(lab.BERTH_STORAGE_PATH, 'machines', 'dmhost')}
    assert.notEqual(docker(['info'], berthCerts).code, 0, 'and no longer those of the store that made it')
    // A swarm-mode swarm formed by hand, as docker-machine users did after classic Swarm.
    const init = docker(['swarm', 'init', '--advertise-addr', ip], dmEnv)
    assert.equal(init.code, 0, init.stderr)
    before0 = snapshot(dm)
  })

  after(async () => {
    await berth(['rm', '-f', '-y', 'dm1'], {env: store2})
    await berth(['rm', '-f', '-y', 'dm1'], {env: store3})
    await berth(['rm', '-f', '-y', 'dmhost'], {env: lab})
    await berth(['rm', '-f', '-y', 'tlsm'], {env: store4})
    assert.deepEqual(labLeftovers([labId, ...ids]), [])
  })

  test('import --docker-machine adopts the host with its own CA, key and engine, reading the store only', async () => {
    // The berth store has a CA of its own already: the adopted machine must not use it.
    await ensureStoreCerts(path.join(store2.BERTH_STORAGE_PATH, 'certs'))
    const r = await berth(['import', '--docker-machine'], {env: store2})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Imported "dm1" \(docker-machine driver generic, berth driver generic, manager of swarm dm1\)/)
    const rec = JSON.parse(readFileSync(path.join(store2.BERTH_STORAGE_PATH, 'machines', 'dm1', 'config.json'), 'utf8'))
    assert.deepEqual([rec.swarm.name, rec.swarm.manager, rec.swarm.advertiseAddr, rec.ca, rec.adopted.from], ['dm1', true, ip, 'machine', 'docker-machine'])
    assert.match(rec.swarm.nodeId, /^[a-z0-9]{20,}$/)
    assert.match(r.stdout, /not carried over: swarm: docker-machine's classic Swarm master \(discovery token:\/\/0123abcd\)/)
    const rows = JSON.parse((await berth(['ls', '--json'], {env: store2})).stdout)
    assert.equal(rows.length, 1)
    assert.equal(rows[0].name, 'dm1')
    assert.equal(rows[0].state, 'Running')
    assert.equal(rows[0].url, `tcp://${ip}:2376`)
    assert.match(rows[0].docker, /^v\d+/)
    const denv = await dockerEnv('dm1', store2)
    assert.equal(denv.DOCKER_HOST, `tcp://${ip}:2376`)
    assert.equal(readFileSync(path.join(denv.DOCKER_CERT_PATH, 'ca.pem'), 'utf8'), readFileSync(path.join(dm, 'certs', 'ca.pem'), 'utf8'))
    const info = docker(['info', '--format', '{{.Name}} {{json .Labels}}'], denv)
    assert.equal(info.code, 0, info.stderr)
    assert.match(info.stdout, /^dmhost /)
    const ssh = await berth(['ssh', 'dm1', '--', 'id -u; hostname'], {env: store2})
    assert.equal(ssh.code, 0, ssh.stderr)
    assert.equal(ssh.stdout.trim(), '0\ndmhost')
    assert.deepEqual(snapshot(dm), before0, 'the docker-machine store is unchanged')
  })

  test('importing a name the store has already is refused and changes nothing', async () => {
    const cfg = path.join(store2.BERTH_STORAGE_PATH, 'machines', 'dm1', 'config.json')
    const was = readFileSync(cfg, 'utf8')
    const r = await berth(['import', '--docker-machine', dm], {env: store2})
    assert.equal(r.code, 1)
    assert.equal(r.stderr.trim(), 'berth: Docker machine "dm1" already exists')
    assert.equal(readFileSync(cfg, 'utf8'), was)
  })

  test('export, then import into a store with another CA: a wrong passphrase writes nothing, the right one works', async () => {
    const pass = 'correct horse battery staple'
    const x = await berth(['export', 'dm1', '--passphrase-stdin'], {env: store2, input: pass + '\n'})
    assert.equal(x.code, 0, x.stderr)
    writeFileSync(bundle, x.stdout)
    assert.doesNotMatch(x.stdout, /PRIVATE KEY|correct horse|BEGIN/)
    assert.match(x.stderr, /not exported: ca-key\.pem/)
    await ensureStoreCerts(path.join(store3.BERTH_STORAGE_PATH, 'certs'))
    const wrong = await berth(['import', bundle], {env: {...store3, BERTH_EXPORT_PASSPHRASE: 'not it'}})
    assert.equal(wrong.code, 1)
    assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr)
    assert.match(wrong.stderr, /wrong passphrase/)
    assert.ok(!existsSync(path.join(store3.BERTH_STORAGE_PATH, 'machines', 'dm1')), 'nothing written')
    const ok = await berth(['import', bundle], {env: {...store3, BERTH_EXPORT_PASSPHRASE: pass}})
    assert.equal(ok.code, 0, ok.stderr)
    const denv = await dockerEnv('dm1', store3)
    assert.notEqual(readFileSync(path.join(denv.DOCKER_CERT_PATH, 'ca.pem'), 'utf8'), readFileSync(path.join(store3.BERTH_STORAGE_PATH, 'certs', 'ca.pem'), 'utf8'))
    assert.equal(docker(['info', '--format', '{{.Name}}'], denv).stdout.trim(), 'dmhost')
    const ssh = await berth(['ssh', 'dm1', '--', 'hostname'], {env: store3})
    assert.equal(ssh.stdout.trim(), 'dmhost', ssh.stderr)
    const again = await berth(['import', bundle, '--passphrase-stdin'], {env: store3, input: pass})
    assert.equal(again.code, 1)
    assert.match(again.stderr, /Docker machine "dm1" already exists/)
  })

  /** The engine's server certificate: signed by `ca` (openssl's own check) with RSA-SHA256. */
  const checkServerCert = async (name: string, env: Record<string, string>, ca: string) => {
    const got = await berth(['ssh', name, '--', 'cat /etc/docker/server.pem'], {env})
    assert.equal(got.code, 0, got.stderr)
    const file = path.join(tmpDir('dmi-srv'), 'server.pem')
    writeFileSync(file, got.stdout)
    assert.equal(openssl(['verify', '-CAfile', ca, file], '/').toString().trim(), `${file}: OK`)
    assert.match(openssl(['x509', '-in', file, '-noout', '-text'], '/').toString(), /Signature Algorithm: sha256WithRSAEncryption/)
  }

  test('regenerate-certs of the imported machine issues from docker-machine\'s RSA CA: its own client certificate still works', async () => {
    const r = await berth(['regenerate-certs', '-f', 'dm1'], {env: store2})
    assert.equal(r.code, 0, r.stderr)
    await checkServerCert('dm1', store2, path.join(dm, 'certs', 'ca.pem'))
    // docker-machine's files, untouched, against the re-issued engine; then berth's copies in both stores.
    const dmEnv = {DOCKER_HOST: `tcp://${ip}:2376`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: machine}
    const info = docker(['info', '--format', '{{.Name}} {{.Swarm.LocalNodeState}}'], dmEnv)
    assert.equal(info.stdout.trim(), 'dmhost active', info.stderr)
    for (const s of [store2, store3]) assert.equal(docker(['info', '--format', '{{.Name}}'], await dockerEnv('dm1', s)).stdout.trim(), 'dmhost')
    assert.deepEqual(snapshot(dm), before0, 'the docker-machine store is unchanged')
  })

  test('MACHINE_TLS_* with docker-machine\'s RSA CA: a new machine trusts it and docker --tlsverify with docker-machine\'s client certificate works', async () => {
    const c = path.join(dm, 'certs')
    const tlsEnv = {...store4, MACHINE_TLS_CA_CERT: path.join(c, 'ca.pem'), MACHINE_TLS_CA_KEY: path.join(c, 'ca-key.pem'), MACHINE_TLS_CLIENT_CERT: path.join(c, 'cert.pem'), MACHINE_TLS_CLIENT_KEY: path.join(c, 'key.pem')}
    const r = await berth(['create', 'tlsm'], {env: tlsEnv})
    assert.equal(r.code, 0, r.stderr)
    ids.push(JSON.parse(readFileSync(path.join(store4.BERTH_STORAGE_PATH, 'machines', 'tlsm', 'config.json'), 'utf8')).id)
    assert.match(r.stderr, /note: the store takes the CA and client certificate of /)
    await checkServerCert('tlsm', store4, path.join(c, 'ca.pem'))
    const tip = (await berth(['ip', 'tlsm'], {env: store4})).stdout.trim()
    const tlsArgs = ['--tlsverify', '--tlscacert', path.join(c, 'ca.pem'), '--tlscert', path.join(c, 'cert.pem'), '--tlskey', path.join(c, 'key.pem'), '-H', `tcp://${tip}:2376`]
    const info = docker([...tlsArgs, 'info', '--format', '{{.Name}}'], {})
    assert.equal(info.code, 0, info.stderr)
    assert.equal(info.stdout.trim(), 'tlsm')
    // The engine trusts that CA only: the client certificate of another store is refused.
    const other = docker(['info'], {DOCKER_HOST: `tcp://${tip}:2376`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: path.join(lab.BERTH_STORAGE_PATH, 'machines', 'dmhost')})
    assert.notEqual(other.code, 0)
    // And keeps issuing from it.
    const regen = await berth(['regenerate-certs', '-f', 'tlsm'], {env: store4})
    assert.equal(regen.code, 0, regen.stderr)
    assert.equal(docker([...tlsArgs, 'version', '--format', '{{.Server.Os}}'], {}).stdout.trim(), 'linux')
    const rm = await berth(['rm', '-y', 'tlsm'], {env: store4})
    assert.equal(rm.code, 0, rm.stderr)
    assert.deepEqual(snapshot(dm), before0, 'the docker-machine store is unchanged')
  })

  test('rm forgets an imported machine and leaves its host as it is', async () => {
    const r = await berth(['rm', '-y', 'dm1'], {env: store2})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Successfully removed dm1/)
    assert.deepEqual(JSON.parse((await berth(['ls', '--json'], {env: store2})).stdout), [])
    // The same host through the other store's copy: engine, swarm and SSH untouched.
    const denv = await dockerEnv('dm1', store3)
    assert.equal(docker(['info', '--format', '{{.Name}} {{.Swarm.LocalNodeState}}'], denv).stdout.trim(), 'dmhost active')
    assert.equal((await berth(['ssh', 'dm1', '--', 'hostname'], {env: store3})).stdout.trim(), 'dmhost')
    assert.deepEqual(snapshot(dm), before0, 'the docker-machine store is unchanged')
  })
})
