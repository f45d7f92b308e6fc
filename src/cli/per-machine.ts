import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from './base.js'
import {ConflictError, UserError} from '../core/index.js'
import {parallel} from '../core/index.js'
import type {Berth} from '../machine/index.js'
import type {DriverLoaders} from '../sdk/index.js'
import {asDockerMachine, machineErrorLine} from './dm-lines.js'

/**
 * docker-machine refuses to put a machine in the state it is in (libmachine's
 * ErrHostAlreadyInState), in these words: `Machine "x" is already stopped.`
 */
export async function refuseIfAlready(berth: Berth, name: string, state: 'Running' | 'Stopped'): Promise<void> {
  const st = await berth.state(await berth.load(name))
  if (st.state === state) throw new ConflictError(`Machine "${name}" is already ${state.toLowerCase()}.`)
}

/**
 * Commands of the shape "do X to each named machine" (start, stop, provision...): run in
 * parallel, report each failure on its own line, exit non-zero if any failed.
 */
export interface PerMachineSpec {summary: string; description?: string; verb: string; run: (berth: Berth, name: string) => Promise<unknown>}

export function perMachineCommand(drivers: DriverLoaders, spec: PerMachineSpec) {
  return class extends BaseCommand<any> {
    protected readonly drivers = drivers
    static override summary = spec.summary
    static override description = spec.description
    static override strict = false
    static override defaultMachine = true
    static override args = {name: Args.string({description: 'Machine name(s); default: the machine named "default"'})}
    static override examples = [`<%= config.bin %> ${spec.verb} node1 node2`]
    static override flags = {
      parallel: Flags.integer({summary: 'How many machines at once', default: 8, min: 1}),
    }

    async run(): Promise<void> {
      const berth = this.berth()
      const names = this.argv
      const results = await parallel(names, Number((this.flags as Record<string, unknown>).parallel ?? 8), name => spec.run(berth, name))
      const failed = results.filter(r => r.status === 'rejected') as PromiseRejectedResult[]
      if (names.length === 1 && failed.length) throw failed[0].reason
      const dm = asDockerMachine()
      results.forEach((r, i) => {
        if (r.status !== 'rejected') return
        // docker-machine prints each machine's error on its own line, and nothing after them.
        process.stderr.write(`${machineErrorLine(names[i]!, r.reason)}\n`)
      })
      if (failed.length && dm) process.exitCode = 1
      else if (failed.length) throw new UserError(`${spec.verb} failed for ${failed.length} of ${names.length} machines`)
    }
  }
}
