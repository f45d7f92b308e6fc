import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'

export default class QemuBuildImage extends BerthCommand<typeof QemuBuildImage> {
  static override summary = 'Build a Debian base image for the qemu driver with debootstrap (needs root and Debian\'s package mirror)'
  static override description = 'Writes OUT (a sparse raw disk), OUT.vmlinuz, OUT.initrd and OUT.cmdline. OUT must not exist: machines made from an image break if it changes under them, so every build gets a new name.'
  static override examples = [
    '<%= config.bin %> qemu build-image ~/.berth/images/bookworm-1.raw',
    '<%= config.bin %> create -d qemu --qemu-image ~/.berth/images/bookworm-1.raw node1',
    '<%= config.bin %> qemu build-image --without-docker ~/.berth/images/bookworm-cloud-1.raw',
  ]
  static override args = {out: Args.string({description: 'Image file to write', required: true})}
  static override flags = {
    release: Flags.string({summary: 'Debian release', default: 'bookworm', options: ['bookworm', 'trixie']}),
    mirror: Flags.string({summary: 'Debian package mirror', env: 'BERTH_DEBIAN_MIRROR'}),
    size: Flags.string({summary: 'Virtual size of the (sparse) image', default: '4G'}),
    'without-docker': Flags.boolean({summary: 'Leave Docker out, as a cloud image does: berth create installs it (--engine-install-url)'}),
  }

  async run(): Promise<void> {
    const {buildImage} = await import('../../drivers/qemu/image.js')
    const r = await buildImage({
      out: this.args.out!, release: this.flags.release, mirror: this.flags.mirror, size: this.flags.size,
      withoutDocker: this.flags['without-docker'],
      progress: step => this.progress('build-image', step), signal: this.abort.signal,
    })
    process.stderr.write(`built in ${r.seconds} s\n`)
    this.log(r.image)
  }
}
