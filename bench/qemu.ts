/**
 * Boot-to-Docker-ready time of local qemu VMs: `berth create -d qemu` from the command to an
 * engine answering over TLS (boot, cloud-init, provisioning through systemd), for one VM and
 * for three at once; and one VM's create with Docker in the image beside berth installing it
 * (the image without Docker, apt through an apt-cacher-ng). The images are the e2e tests'.
 */
import {chooseAccel, probeKvm} from '../drivers/qemu/accel.js'
import {startAptProxy} from '../test/aptproxy.js'
import {qemuImage} from '../test/hostimages.js'
import {qemuInstallRows, timedBerth, withQemuStore} from './vmrun.js'

export async function benchQemu(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {}
  out.accelerator = chooseAccel('auto', await probeKvm()).accel
  const proxy = await startAptProxy({bind: ['127.0.0.1'], cache: 'bench'})
  try {
    // First: it builds the images when absent.
    await qemuInstallRows(out, proxy.port, proxy.url('127.0.0.1'))
  } finally {
    await proxy.stop()
  }
  const create = ['create', '-d', 'qemu', '--qemu-image', qemuImage(), '--qemu-memory', '1024', '--qemu-restrict']
  // 1 vCPU each is what three VMs sharing 2 host cores get; one VM also with the driver's default 2.
  const runs: Array<[string, string[], string]> = [
    ['boot to Docker ready, 1 VM, 1 vCPU (s)', ['b1'], '1'],
    ['boot to Docker ready, 3 VMs at once, 1 vCPU each (s)', ['b1', 'b2', 'b3'], '1'],
  ]
  for (const [label, names, cpus] of runs) out[label] = withQemuStore(names, env => timedBerth([...create, '--qemu-cpus', cpus, ...names], env))
  return out
}
