import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {defaultMachineArgs} from '../src/cli/index.js'
import {sshEndpoint} from '../src/machine/index.js'

export default class Inspect extends BerthCommand<typeof Inspect> {
  static override summary = 'Show everything berth knows about a machine, as JSON'
  static override description = 'docker-machine\'s fields (Name, DriverName, Driver.IPAddress, Driver.SSHUser, Driver.SSHPort, Driver.MachineName, HostOptions.EngineOptions/SwarmOptions/AuthOptions) come first, berth\'s record beside them. --format is a Go template over the same object, with json and prettyjson.'
  static override examples = [
    '<%= config.bin %> inspect node1',
    '<%= config.bin %> inspect --format "{{.Driver.IPAddress}}" node1',
    '<%= config.bin %> inspect -f "{{json .HostOptions.EngineOptions}}" node1',
    '<%= config.bin %> inspect -f "{{prettyjson .Driver}}" node1',
  ]
  static override defaultMachine = true
  static override args = defaultMachineArgs()
  static override flags = {
    format: Flags.string({char: 'f', summary: 'Go template over the machine (json, prettyjson ...), as docker-machine inspect --format'}),
  }

  async run(): Promise<void> {
    const berth = this.berth()
    const record = await berth.load(this.args.name!)
    const status = await berth.state(record)
    const {inspectShape, renderOne} = await import('../src/format/index.js')
    const [ip, ssh] = await Promise.all([
      berth.ip(record).catch(() => undefined),
      sshEndpoint(berth.ctx, record).catch(() => undefined),
    ])
    const shape = inspectShape(record, {
      ip, state: status.state, stateError: status.error, storePath: berth.store.root,
      ssh: ssh && {host: ssh.host, port: ssh.port, user: ssh.user, keyPath: ssh.privateKeyPath},
    })
    if (this.flags.format) {
      process.stdout.write(renderOne(this.flags.format, shape))
      return
    }
    this.json(shape)
  }
}
