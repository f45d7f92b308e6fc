import {perMachineCommand} from './_command.js'
import {power} from '../src/machine/index.js'

export default perMachineCommand({summary: 'Start machines (and their Docker engines)', verb: 'start', run: (ctx, name) => power(ctx, name, 'start')})
