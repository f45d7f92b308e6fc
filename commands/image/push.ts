import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'
import {table, UserError} from '../../src/core/index.js'
import {CorruptRecord, type MachineRecord} from '../../src/store/index.js'

export default class ImagePush extends BerthCommand<typeof ImagePush> {
  static override summary = 'Copy images into machines\' engines, without a registry'
  static override description = 'Streams `docker save` of the images from the local engine (DOCKER_HOST or the default socket), a member (--from) or a tarball (--file) into each target\'s engine over mutual TLS, in parallel. Targets that already have the image ID are skipped. Give the machines after the images, or --swarm for every member.'
  static override examples = [
    '<%= config.bin %> image push api:1 --swarm lab3',
    '<%= config.bin %> image push api:1 web:2 w1 w2 --from m1',
    '<%= config.bin %> image push --file images.tar --swarm lab3',
  ]
  static override strict = false
  static override flags = {
    swarm: Flags.string({summary: 'Push to every member of this swarm'}),
    from: Flags.string({summary: 'Machine whose engine has the images', exclusive: ['file']}),
    file: Flags.string({summary: 'A "docker save" tarball (all its images when none are named)', exclusive: ['from']}),
    parallel: Flags.integer({summary: 'Targets loaded at once', default: 4, min: 1}),
    json: Flags.boolean({summary: 'Print one result per target as JSON'}),
  }

  async run(): Promise<void> {
    const berth = this.berth()
    const all = (await berth.store.loadAll()).filter((r): r is MachineRecord => !(r instanceof CorruptRecord))
    const args = [...this.argv]
    let targets: MachineRecord[]
    if (this.flags.swarm) {
      targets = all.filter(r => r.swarm?.name === this.flags.swarm && r.status === 'ready')
      if (!targets.length) throw new UserError(`swarm "${this.flags.swarm}" has no ready members`, 'not_found')
    } else {
      // Machines come after the images: trailing arguments that name machines are the targets.
      targets = []
      for (let t = all.find(r => r.name === args.at(-1)); t && args.length; t = all.find(r => r.name === args.at(-1))) {
        targets.unshift(t)
        args.pop()
      }
      if (!targets.length) throw new UserError('name the target machines after the images, or give --swarm', 'usage')
    }
    if (this.flags.from) targets = targets.filter(t => t.name !== this.flags.from)
    const {pushImages} = await import('../../src/images/index.js')
    const source = this.flags.file ? {file: this.flags.file} : this.flags.from ? {machine: this.flags.from} : {local: true as const}
    const results = await pushImages(berth.ctx, {images: args, targets, source, parallel: this.flags.parallel})
    const failed = results.filter(r => r.result === 'failed')
    if (this.flags.json) this.json(results)
    else if (results.length > 1 || !failed.length) this.log(table(['MACHINE', 'RESULT', 'BYTES', 'SECONDS'], results.map(r => [r.machine, r.result, String(r.bytes), (r.ms / 1000).toFixed(1)])))
    if (failed.length === 1) throw new UserError(failed[0].error!)
    if (failed.length) {
      for (const f of failed) process.stderr.write(`berth: ${f.error}\n`)
      throw new UserError(`${failed.length} of ${results.length} machines failed to load the images`)
    }
  }
}
