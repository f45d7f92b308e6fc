import {test} from 'node:test'
import assert from 'node:assert/strict'
import {segmentFor} from '../../drivers/qemu/net.js'

test('each store (and subnet) gets its own multicast segment on a stable group and port', () => {
  const a = segmentFor('/home/u/.berth', '192.168.76.0/24')
  assert.deepEqual(a, segmentFor('/home/u/.berth/', '192.168.76.0/24'))
  assert.notDeepEqual(a, segmentFor('/tmp/other-store', '192.168.76.0/24'))
  assert.notDeepEqual(a, segmentFor('/home/u/.berth', '192.168.77.0/24'))
  assert.match(a.group, /^239\.255\.\d+\.\d+$/)
  assert.ok(a.port >= 20000 && a.port < 60000)
})
