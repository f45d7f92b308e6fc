import {perMachineCommand} from './_command.js'

export default perMachineCommand({summary: 'Start machines (and their Docker engines)', verb: 'start', run: (berth, name) => berth.power(name, 'start')})
