import {perMachineCommand} from './_command.js'
import {refuseIfAlready} from '../src/cli/index.js'

export default perMachineCommand({
  summary: 'Stop machines at once, without a graceful shutdown',
  description: 'Killing a machine that is already stopped is an error (exit 1), as in docker-machine.',
  verb: 'kill',
  run: async (berth, name) => {
    await refuseIfAlready(berth, name, 'Stopped')
    await berth.power(name, 'kill')
  },
})
