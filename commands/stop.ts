import {perMachineCommand} from './_command.js'
import {power} from '../src/machine/index.js'

export default perMachineCommand({summary: 'Stop machines gracefully', verb: 'stop', run: (ctx, name) => power(ctx, name, 'stop')})
