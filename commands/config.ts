import path from 'node:path'
import {BerthCommand} from './_command.js'
import {UserError} from '../src/core/index.js'
import {defaultMachineArgs, jsonFlag, requireRunning} from '../src/cli/index.js'

export default class Config extends BerthCommand<typeof Config> {
  static override summary = 'Print the docker CLI flags that connect to a machine'
  static override description = 'A machine that is not running is an error (exit 1, "Host is not running"), as in docker-machine.'
  static override examples = ['docker $(<%= config.bin %> config node1) info', '<%= config.bin %> config --json node1']
  static override defaultMachine = true
  static override args = defaultMachineArgs()
  static override flags = jsonFlag()

  async run(): Promise<void> {
    const berth = this.berth()
    const record = await berth.load(this.args.name!)
    await requireRunning(berth, record)
    const drift = await berth.drift(record)
    // docker-machine's words for a certificate that does not match the host (scripts grep them).
    if (drift) throw new UserError(`Error checking TLS connection: ${drift}`)
    const engine = await berth.engine(record)
    engine.close()
    const dir = berth.store.machineDir(record.name)
    const cfg = {tlsverify: true, tlscacert: path.join(dir, 'ca.pem'), tlscert: path.join(dir, 'cert.pem'), tlskey: path.join(dir, 'key.pem'), host: engine.url}
    if (this.flags.json) return this.json(cfg)
    this.log(`--tlsverify\n--tlscacert="${cfg.tlscacert}"\n--tlscert="${cfg.tlscert}"\n--tlskey="${cfg.tlskey}"\n-H=${cfg.host}`)
  }
}
