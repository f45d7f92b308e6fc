import {perMachineCommand} from './_command.js'

export default perMachineCommand({
  summary: 'Provision existing machines again (certificates, daemon.json, engine restart)',
  description: 'Safe to re-run: it rewrites the same configuration and restarts the engine.',
  verb: 'provision',
  run: (berth, name) => berth.reprovision(name),
})
