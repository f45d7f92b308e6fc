import {perMachineCommand} from './_command.js'
import {power} from '../src/machine/index.js'

export default perMachineCommand({summary: 'Stop machines at once, without a graceful shutdown', verb: 'kill', run: (ctx, name) => power(ctx, name, 'kill')})
