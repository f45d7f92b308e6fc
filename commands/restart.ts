import {perMachineCommand} from './_command.js'

export default perMachineCommand({summary: 'Restart machines', verb: 'restart', run: (berth, name) => berth.power(name, 'restart')})
