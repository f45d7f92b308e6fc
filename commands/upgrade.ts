import {perMachineCommand} from '../src/multi.js'
import {upgradeMachine} from '../src/machine.js'

export default perMachineCommand({summary: 'Upgrade the Docker engine of machines to the newest version', verb: 'upgrade', run: upgradeMachine})
