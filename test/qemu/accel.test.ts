import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import {chooseAccel, cpuHasVirt, probeKvm} from '../../drivers/qemu/accel.js'

const cpu = (flags: string) => `processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: ${flags}\nbugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: ${flags}\n`
const INTEL = cpu('fpu vme de pse tsc msr pae mce cx8 apic sep mtrr vmx ssse3 sse4_2 avx2')
const AMD = cpu('fpu vme de pse tsc msr pae mce cx8 apic svm sse4a avx2')
const NONE = cpu('fpu vme de pse tsc msr pae mce cx8 apic hypervisor avx2')

test('vmx or svm in the flags line, and only there', () => {
  assert.equal(cpuHasVirt(INTEL), 'vmx')
  assert.equal(cpuHasVirt(AMD), 'svm')
  assert.equal(cpuHasVirt(NONE), undefined)
  // "vmx" elsewhere (a vmx_flags line, a model name) does not count.
  assert.equal(cpuHasVirt(`model name\t: vmx svm\nvmx flags\t: vnmi\n${NONE}`), undefined)
})

test('auto: KVM only with vmx/svm AND a usable /dev/kvm; otherwise TCG, with the reason', () => {
  assert.equal(chooseAccel('auto', {cpuinfo: INTEL, devKvm: 'usable'}).accel, 'kvm')
  assert.equal(chooseAccel('auto', {cpuinfo: AMD, devKvm: 'usable'}).accel, 'kvm')
  const noVirt = chooseAccel('auto', {cpuinfo: NONE, devKvm: 'usable'})
  assert.equal(noVirt.accel, 'tcg')
  assert.match(noVirt.reason, /no vmx\/svm/)
  assert.match(chooseAccel('auto', {cpuinfo: INTEL, devKvm: 'missing'}).reason, /\/dev\/kvm does not exist/)
  assert.match(chooseAccel('auto', {cpuinfo: INTEL, devKvm: 'denied'}).reason, /kvm group/)
  assert.equal(chooseAccel('auto', {cpuinfo: INTEL, devKvm: 'denied'}).accel, 'tcg')
})

test('--qemu-accel overrides: tcg always; kvm refused without /dev/kvm, warned without vmx/svm', () => {
  assert.equal(chooseAccel('tcg', {cpuinfo: INTEL, devKvm: 'usable'}).accel, 'tcg')
  assert.throws(() => chooseAccel('kvm', {cpuinfo: INTEL, devKvm: 'missing'}), /--qemu-accel kvm: \/dev\/kvm does not exist; use --qemu-accel tcg/)
  const forced = chooseAccel('kvm', {cpuinfo: NONE, devKvm: 'usable'})
  assert.equal(forced.accel, 'kvm')
  assert.match(forced.warning!, /probably fail/)
  assert.equal(chooseAccel('kvm', {cpuinfo: INTEL, devKvm: 'usable'}).warning, undefined)
  assert.throws(() => chooseAccel('hvf', {cpuinfo: INTEL, devKvm: 'usable'}), /bad --qemu-accel "hvf"/)
})

test('this host: the probe agrees with /proc/cpuinfo and /dev/kvm', async () => {
  const probe = await probeKvm()
  const virt = cpuHasVirt(readFileSync('/proc/cpuinfo', 'utf8'))
  const choice = chooseAccel('auto', probe)
  if (!virt || probe.devKvm !== 'usable') assert.equal(choice.accel, 'tcg')
  else assert.equal(choice.accel, 'kvm')
  if (!existsSync('/dev/kvm')) assert.equal(probe.devKvm, 'missing')
})
