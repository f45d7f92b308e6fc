import {perMachineCommand} from './_command.js'

export default perMachineCommand({summary: 'Upgrade the Docker engine of machines to the newest version', verb: 'upgrade', run: (berth, name) => berth.upgrade(name)})
