import {perMachineCommand} from '../src/multi.js'
import {power} from '../src/machine.js'

export default perMachineCommand({summary: 'Start machines (and their Docker engines)', verb: 'start', run: (ctx, name) => power(ctx, name, 'start')})
