import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'

export default class LabBuildImage extends BerthCommand<typeof LabBuildImage> {
  static override summary = 'Build a Debian root filesystem without Docker for lab hosts (--lab-image), with debootstrap'
  static override description = 'Writes DIR (default /var/cache/berth-lab/images/SUITE): a minimal Debian with openssh-server, curl and apt, as a cloud image ships, and no Docker. A DIR that exists is kept (it is read-only under every lab host booted on it) and its path printed. Needs root and Debian\'s package mirror, directly or through --proxy.'
  static override examples = [
    '<%= config.bin %> lab build-image --proxy http://127.0.0.1:3142',
    '<%= config.bin %> create -d lab --lab-image /var/cache/berth-lab/images/bookworm --engine-install-proxy http://172.30.77.1:3142 node1',
  ]
  static override args = {dir: Args.string({description: 'Folder to write the tree to'})}
  static override flags = {
    suite: Flags.string({summary: 'Debian release', default: 'bookworm', options: ['bookworm', 'trixie']}),
    mirror: Flags.string({summary: 'Debian package mirror', env: 'BERTH_DEBIAN_MIRROR'}),
    proxy: Flags.string({summary: 'HTTP proxy for the downloads (e.g. an apt-cacher-ng)', env: 'BERTH_LAB_BUILD_PROXY'}),
  }

  async run(): Promise<void> {
    const {buildLabImage} = await import('../../drivers/lab/image.js')
    const r = await buildLabImage({
      dir: this.args.dir, suite: this.flags.suite, mirror: this.flags.mirror, proxy: this.flags.proxy,
      progress: step => this.progress('build-image', step), signal: this.abort.signal,
    })
    process.stderr.write(r.built ? `built in ${r.seconds} s\n` : 'already built\n')
    this.log(r.dir)
  }
}
