import {test} from 'node:test'
import assert from 'node:assert/strict'
import {guestfwdOption} from '../../drivers/qemu/driver.js'
import {qemuArgs, type VmSpec} from '../../drivers/qemu/vm.js'

test('--qemu-guestfwd: GUEST_IP:PORT=HOST_IP:PORT rules become guestfwd on the restricted NAT netdev', () => {
  const rules = guestfwdOption(['10.0.2.100:3142=127.0.0.1:3142'])
  assert.deepEqual(rules, [{guest: '10.0.2.100:3142', host: '127.0.0.1:3142'}])
  assert.deepEqual(guestfwdOption(undefined), [])
  for (const bad of ['10.0.2.100:3142', 'host:1=127.0.0.1:2', '10.0.2.100:3142=127.0.0.1:3142=x', '10.0.2.100=127.0.0.1:3142']) {
    assert.throws(() => guestfwdOption([bad]), /^UserError: bad --qemu-guestfwd/, bad)
  }
  const s: VmSpec = {
    name: 'a', binary: 'q', accel: 'tcg', memoryMb: 512, cpus: 1, overlay: '/d/disk.qcow2', seed: '/d/seed.iso', restrict: true, guestfwd: rules,
    sshPort: 2222, enginePort: 2376, natMac: '52:54:00:00:00:01', lanMac: '52:54:c0:a8:4c:02', segment: {group: '239.255.9.9', port: 31000},
    console: '/d/console.log', qmpSocket: '/d/qmp.sock',
  }
  assert.ok(qemuArgs(s).includes('user,id=nat,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:2376-:2376,guestfwd=tcp:10.0.2.100:3142-tcp:127.0.0.1:3142'))
  // A relay per connection: QEMU's tcp chardev would carry only the first one.
  assert.ok(qemuArgs({...s, guestfwd: [{...rules[0], cmd: 'socat - TCP:127.0.0.1:3142'}]}).some(a => a.endsWith(',guestfwd=tcp:10.0.2.100:3142-cmd:socat - TCP:127.0.0.1:3142')))
})
