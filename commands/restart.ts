import {perMachineCommand} from './_command.js'
import {power} from '../src/machine/index.js'

export default perMachineCommand({summary: 'Restart machines', verb: 'restart', run: (ctx, name) => power(ctx, name, 'restart')})
