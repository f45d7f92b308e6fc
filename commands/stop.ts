import {perMachineCommand} from '../src/multi.js'
import {power} from '../src/machine.js'

export default perMachineCommand({summary: 'Stop machines gracefully', verb: 'stop', run: (ctx, name) => power(ctx, name, 'stop')})
