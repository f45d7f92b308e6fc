import {perMachineCommand} from '../src/multi.js'
import {power} from '../src/machine.js'

export default perMachineCommand({summary: 'Stop machines at once, without a graceful shutdown', verb: 'kill', run: (ctx, name) => power(ctx, name, 'kill')})
