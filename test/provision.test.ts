import {test} from 'node:test'
import assert from 'node:assert/strict'
import {daemonConfig, deprovision, engineOptsToConfig, ensureEngineRunning, gatherFacts, restartEngine, serverSans} from '../src/provision/provision.js'
import {osProvisioner} from '../src/provision/os.js'
import {connect, generateKeyPair} from '../src/ssh/index.js'
import {FakeSshd} from './fakes/sshd.js'
import {EngineOptions} from '../src/store/record.js'
import {engineOptions} from '../src/options/index.js'

test('daemon.json listens on the socket and 2376 with TLS, labels the engine', () => {
  const engine = EngineOptions.parse({labels: ['tier=web'], insecureRegistries: ['reg:5000'], registryMirrors: ['https://m'], storageDriver: 'overlay2', opts: ['max-concurrent-downloads=5', 'debug']})
  const cfg = daemonConfig({machineName: 'n1', driverName: 'lab', ip: '10.0.0.2', addresses: [], engine, ca: {certPem: '', keyPem: ''}, driverLabels: {region: 'tyo1'}, engineDefaults: {'cgroup-parent': '/x'}})
  assert.deepEqual(cfg.hosts, ['unix:///var/run/docker.sock', 'tcp://0.0.0.0:2376'])
  assert.equal(cfg.tlsverify, true)
  assert.equal(cfg.tlskey, '/etc/docker/server-key.pem')
  assert.deepEqual(cfg.labels, ['provider=lab', 'berth.machine=n1', 'region=tyo1', 'tier=web'])
  assert.deepEqual(cfg['insecure-registries'], ['reg:5000'])
  assert.deepEqual(cfg['registry-mirrors'], ['https://m'])
  assert.equal(cfg['storage-driver'], 'overlay2')
  assert.equal(cfg['max-concurrent-downloads'], 5)
  assert.equal(cfg.debug, true)
  assert.equal(cfg['cgroup-parent'], '/x')
})

test('engine opts cannot override the TLS settings berth relies on', () => {
  const engine = EngineOptions.parse({opts: ['tlsverify=false', 'hosts=tcp://0.0.0.0:2375']})
  const cfg = daemonConfig({machineName: 'n', driverName: 'lab', ip: '1.2.3.4', addresses: [], engine, ca: {certPem: '', keyPem: ''}})
  assert.equal(cfg.tlsverify, true)
  assert.deepEqual(cfg.hosts, ['unix:///var/run/docker.sock', 'tcp://0.0.0.0:2376'])
})

test('repeated engine opts become arrays', () => {
  assert.deepEqual(engineOptsToConfig(['dns=1.1.1.1', 'dns=8.8.8.8']), {dns: ['1.1.1.1', '8.8.8.8']})
})

test('SANs hold every address, the hostname, localhost and --tls-san, once each', () => {
  assert.deepEqual(serverSans({ip: '1.2.3.4', addresses: ['10.0.0.5', '1.2.3.4'], hostname: 'h', tlsSans: ['docker.example.com']}),
    ['1.2.3.4', '10.0.0.5', 'h', 'localhost', '127.0.0.1', 'docker.example.com'])
})

test('Debian and Ubuntu are provisioned; others are refused by name', () => {
  assert.equal(osProvisioner({ID: 'debian'}).family, 'debian')
  assert.equal(osProvisioner({ID: 'ubuntu', ID_LIKE: 'debian'}).family, 'debian')
  assert.equal(osProvisioner({ID: 'linuxmint', ID_LIKE: 'ubuntu debian'}).family, 'debian')
  assert.equal(osProvisioner({ID: 'rocky', ID_LIKE: 'rhel centos fedora'}).family, 'redhat')
  assert.throws(() => osProvisioner({ID: 'alpine', PRETTY_NAME: 'Alpine Linux v3.20'}), /^UserError: unsupported OS "Alpine Linux v3.20": berth provisions Debian, Ubuntu, Fedora, RHEL, CentOS, Rocky Linux and AlmaLinux hosts$/)
})

test('engine flags are validated before anything is made', () => {
  assert.throws(() => engineOptions({'engine-label': ['novalue']}), /bad --engine-label/)
  assert.throws(() => engineOptions({'engine-env': ['1BAD=x']}), /bad --engine-env/)
  assert.throws(() => engineOptions({'engine-install-url': 'ftp://x'}), /bad --engine-install-url/)
  assert.equal(engineOptions({'engine-install-url': 'none'}).installUrl, 'none')
})

test('an init-less dockerd is stopped and started the same way by restart, start-if-stopped and deprovision', async () => {
  const keys = await generateKeyPair('t')
  const host = await FakeSshd.start({
    files: {'/etc/os-release': 'ID=debian\n', '/usr/bin/dockerd': ''},
    exec: cmd => (cmd.includes('hostname') ? {code: 0, stdout: 'h\n10.0.0.2\n'} : undefined),
  })
  host.authorized.push(keys.publicKey)
  const s = await connect({host: '127.0.0.1', port: host.port, user: 'root', privateKey: keys.privateKey, timeoutMs: 5000})
  try {
    const facts = await gatherFacts(s)
    assert.equal(facts.init, 'none')
    assert.equal(facts.dockerd, '/usr/bin/dockerd')
    await restartEngine(s, facts, ['HTTP_PROXY=http://p:3128'])
    await ensureEngineRunning(s)
    await deprovision(s)
  } finally {
    s.close()
    await host.close()
  }
  const byWhat = (re: RegExp) => host.commands.filter(c => re.test(c))
  const stop = 'if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; fi'
  const start = "setsid -f sh -c 'set -a; . /etc/docker/berth.env; set +a; exec /usr/bin/dockerd' </dev/null >>/var/log/docker.log 2>&1"
  const starts = byWhat(/setsid/)
  assert.equal(starts.length, 2, 'restart and start-if-stopped')
  for (const c of starts) assert.ok(c.includes(start), c)
  const stops = byWhat(/kill "\$pid"/)
  assert.equal(stops.length, 2, 'restart and deprovision')
  for (const c of stops) assert.ok(c.includes(stop), c)
  assert.equal(host.text('/etc/docker/berth.env'), 'HTTP_PROXY=http://p:3128\n')
})
