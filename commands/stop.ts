import {perMachineCommand} from './_command.js'

export default perMachineCommand({summary: 'Stop machines gracefully', verb: 'stop', run: (berth, name) => berth.power(name, 'stop')})
