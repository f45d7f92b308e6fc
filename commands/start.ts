import {perMachineCommand} from './_command.js'
import {refuseIfAlready} from '../src/cli/index.js'

export default perMachineCommand({
  summary: 'Start machines (and their Docker engines)',
  description: 'Starting a machine that is already running is an error (exit 1), as in docker-machine.',
  verb: 'start',
  run: async (berth, name) => {
    await refuseIfAlready(berth, name, 'Running')
    await berth.power(name, 'start')
  },
})
