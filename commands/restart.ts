import {perMachineCommand} from '../src/multi.js'
import {power} from '../src/machine.js'

export default perMachineCommand({summary: 'Restart machines', verb: 'restart', run: (ctx, name) => power(ctx, name, 'restart')})
