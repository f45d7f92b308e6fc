import {BerthCommand} from './_command.js'
import {defaultMachineArgs, jsonFlag} from '../src/cli/index.js'
import {engineProblem} from '../src/host/index.js'

export default class Status extends BerthCommand<typeof Status> {
  static override summary = 'Print the state of a machine (Running, Stopped, Error...); a Running one whose engine does not answer says so'
  static override examples = ['<%= config.bin %> status node1', '<%= config.bin %> status --json node1']
  static override defaultMachine = true
  static override args = defaultMachineArgs()
  static override flags = jsonFlag()

  async run(): Promise<void> {
    const berth = this.berth()
    const record = await berth.load(this.args.name!)
    const st: {state: string; error?: string; engine?: string} = await berth.state(record)
    // The engine is part of the machine's state: a live host with a dead dockerd is not plain Running
    // (ls shows its Docker column as Unknown); state stays Running so that scripts matching it still do.
    if (st.state === 'Running' && record.status === 'ready') {
      const problem = await engineProblem(berth.ctx, record)
      if (problem) Object.assign(st, {engine: 'not answering', error: problem})
    }
    if (this.flags.json) return this.json(st)
    this.log(st.engine ? `${st.state} (engine ${st.engine})` : st.state)
  }
}
