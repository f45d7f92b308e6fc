import {BerthCommand} from './_command.js'
import {defaultMachineArgs} from '../src/cli/index.js'
import {interactive} from '../src/ssh/index.js'
import {shellQuote} from '../src/ssh/index.js'

export default class Ssh extends BerthCommand<typeof Ssh> {
  static override summary = 'Log into a machine or run a command on it over SSH'
  static override description = 'The host key recorded at create is checked; a changed key is refused.'
  static override examples = ['<%= config.bin %> ssh node1', '<%= config.bin %> ssh node1 -- docker ps', '<%= config.bin %> ssh node1 -- cat /etc/os-release']
  static override strict = false
  static override defaultMachine = true
  static override args = defaultMachineArgs()

  async run(): Promise<void> {
    const [name, ...rest] = this.argv
    const cmd = rest[0] === '--' ? rest.slice(1) : rest
    const berth = this.berth()
    const session = await berth.ssh(await berth.load(name))
    try {
      // One word is taken as a shell command line (ssh's own habit); several are quoted one by one.
      const code = await interactive(session, cmd.length === 1 ? cmd[0] : cmd.map(shellQuote).join(' '))
      process.exitCode = code
    } finally {
      session.close()
    }
  }
}
