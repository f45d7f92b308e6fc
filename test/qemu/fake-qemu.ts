/**
 * A stand-in for qemu-system-x86_64 in the driver's unit tests: it speaks enough QMP (greeting,
 * capabilities, query-status, system_powerdown), binds the forwarded loopback ports and answers
 * an SSH banner, so the driver's whole lifecycle runs in milliseconds. FAKE_QEMU_MODE picks a
 * failure to play: kvm-error (logs "KVM internal error" and hangs, as KVM does), panic (guest
 * kernel panic on the console), late-kvm-error (boots, then hits the KVM error), deaf (ignores
 * the power button). Every argv is appended to
 * FAKE_QEMU_CALLS as a JSON line.
 */
import {appendFileSync, existsSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'

const argv = process.argv.slice(2)
if (argv[0] === '--version') {
  console.log('QEMU emulator version 7.2.0 (fake)')
  process.exit(0)
}
if (process.env.FAKE_QEMU_CALLS) appendFileSync(process.env.FAKE_QEMU_CALLS, JSON.stringify(argv) + '\n')
const mode = process.env.FAKE_QEMU_MODE ?? 'ok'
const opt = (flag: string) => argv[argv.indexOf(flag) + 1] ?? ''
const netdevUser = argv.filter((a, i) => argv[i - 1] === '-netdev' && a.startsWith('user,'))[0] ?? ''
const fwd = [...netdevUser.matchAll(/hostfwd=tcp:127\.0\.0\.1:(\d+)-:(\d+)/g)].map(m => ({host: Number(m[1]), guest: Number(m[2])}))
const consoleFile = opt('-serial').replace(/^file:/, '')
const qmpPath = opt('-qmp').replace(/^unix:/, '').split(',')[0]

const failOnce = process.env.FAKE_QEMU_FAIL_ONCE
if (failOnce && existsSync(failOnce)) {
  rmSync(failOnce)
  process.stderr.write(`qemu-system-x86_64: -netdev ${netdevUser}: Could not set up host forwarding rule 'tcp:127.0.0.1:${fwd[0]?.host}-:22'\n`)
  process.exit(1)
}

writeFileSync(consoleFile, mode === 'panic' ? '[    1.0] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n' : '[    0.0] Linux version 6.1.0 (fake)\n')
let status = 'running'

for (const f of fwd) {
  const srv = net.createServer(sock => {
    if (f.guest === 22 && (mode === 'ok' || mode === 'late-kvm-error' || mode === 'deaf')) sock.end('SSH-2.0-OpenSSH_9.2 fake\r\n')
    else sock.destroy()
  })
  srv.on('error', err => {
    process.stderr.write(`qemu-system-x86_64: Could not set up host forwarding rule 'tcp:127.0.0.1:${f.host}-:${f.guest}': ${err.message}\n`)
    process.exit(1)
  })
  srv.listen(f.host, '127.0.0.1')
}

if (mode === 'kvm-error' || mode === 'late-kvm-error') {
  setTimeout(() => {
    process.stderr.write('KVM internal error. Suberror: 1\nextra data[0]: 0x0000000000000000\nemulation failure\n')
    status = 'internal-error'
  }, mode === 'kvm-error' ? 300 : 1500)
}

rmSync(qmpPath, {force: true})
net.createServer(sock => {
  sock.write(JSON.stringify({QMP: {version: {qemu: {major: 7, minor: 2, micro: 0}}, capabilities: []}}) + '\r\n')
  let buf = ''
  sock.on('data', d => {
    buf += d
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, nl))
      buf = buf.slice(nl + 1)
      const reply = (ret: unknown) => sock.write(JSON.stringify({return: ret}) + '\r\n')
      switch (msg.execute) {
        case 'qmp_capabilities': reply({}); break
        case 'query-status': reply({status, running: status === 'running', singlestep: false}); break
        case 'system_powerdown':
          reply({})
          if (mode !== 'deaf') {
            sock.write(JSON.stringify({event: 'POWERDOWN', timestamp: {seconds: 0, microseconds: 0}}) + '\r\n')
            setTimeout(() => process.exit(0), 150)
          }
          break
        default: sock.write(JSON.stringify({error: {class: 'CommandNotFound', desc: `The command ${msg.execute} has not been found`}}) + '\r\n')
      }
    }
  })
  sock.on('error', () => {})
}).listen(qmpPath)
