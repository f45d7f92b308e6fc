import {perMachineCommand} from './_command.js'

export default perMachineCommand({summary: 'Stop machines at once, without a graceful shutdown', verb: 'kill', run: (berth, name) => berth.power(name, 'kill')})
