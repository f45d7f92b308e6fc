import {perMachineCommand} from './_command.js'
import {upgradeMachine} from '../src/machine/index.js'

export default perMachineCommand({summary: 'Upgrade the Docker engine of machines to the newest version', verb: 'upgrade', run: upgradeMachine})
