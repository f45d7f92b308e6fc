import {perMachineCommand} from './_command.js'
import {ConflictError} from '../src/core/index.js'

export default perMachineCommand({
  summary: 'Start machines (and their Docker engines)',
  description: 'Starting a machine that is already running is an error (exit 1).',
  verb: 'start',
  run: async (berth, name) => {
    const st = await berth.state(await berth.load(name))
    if (st.state === 'Running') throw new ConflictError(`Docker machine "${name}" is already running`)
    await berth.power(name, 'start')
  },
})
