import * as Flags from '@oclif/core/flags'
import {BerthCommand} from './_command.js'
import {noProxy, parseShell, shellLines, writeDockerContext} from '../src/machine/index.js'
import {defaultMachineArgs, requireRunning, typedCommandLine} from '../src/cli/index.js'
import {ConflictError, NotFoundError, UserError} from '../src/core/index.js'
import type {Store} from '../src/store/index.js'
import {engineProblem} from '../src/host/index.js'

const VARS = ['DOCKER_TLS_VERIFY', 'DOCKER_HOST', 'DOCKER_CERT_PATH', 'DOCKER_MACHINE_NAME'] as const

export default class Env extends BerthCommand<typeof Env> {
  static override summary = 'Print the commands that point the docker CLI at a machine'
  static override description = 'The lines are docker-machine\'s, per shell (no trailing ";": unquoted `eval $(...)` works). --no-proxy adds the machine\'s IP to NO_PROXY (or no_proxy when that one is set).'
  static override examples = ['eval $(<%= config.bin %> env node1)', 'eval $(<%= config.bin %> env --no-proxy node1)', 'eval $(<%= config.bin %> env --swarm lab3)', 'eval $(<%= config.bin %> env -u)', '<%= config.bin %> env node1 --shell fish | source', '<%= config.bin %> env node1 --docker-context']
  static override args = defaultMachineArgs()
  static override flags = {
    shell: Flags.string({summary: 'Shell syntax: bash, zsh, sh, fish, powershell, cmd, tcsh, emacs (default: detected)'}),
    unset: Flags.boolean({char: 'u', summary: 'Print the commands that unset the variables'}),
    'no-proxy': Flags.boolean({summary: 'Add the machine\'s IP to NO_PROXY, so a proxy in HTTP_PROXY is not used for it'}),
    json: Flags.boolean({summary: 'The variables as JSON'}),
    'docker-context': Flags.boolean({summary: 'Also write a docker context "berth-NAME" and select it with DOCKER_CONTEXT'}),
    swarm: Flags.string({summary: 'Point at a reachable manager of this swarm (the next one when the first is down); for a classic group, at its "berth swarm manage" endpoint'}),
    manage: Flags.boolean({summary: 'With --swarm: point at the swarm\'s "berth swarm manage" endpoint, which places plain docker run', dependsOn: ['swarm']}),
  }

  async run(): Promise<void> {
    const shell = parseShell(this.flags.shell)
    const hint = typedCommandLine()
    if (this.flags.unset) {
      if (this.args.name) throw new UserError('Expected no machine name when the -u flag is present', 'usage')
      const vars: Array<[string, null]> = VARS.map(k => [k, null])
      if (this.flags['no-proxy']) vars.push([noProxy('')[0], null])
      // DOCKER_CONTEXT only when berth's --docker-context set it: otherwise the lines stay docker-machine's.
      if (process.env.DOCKER_CONTEXT?.startsWith('berth-')) vars.push(['DOCKER_CONTEXT', null])
      if (this.flags.json) return this.json(Object.fromEntries(vars))
      process.stdout.write(shellLines(shell, vars, hint))
      return
    }
    const berth = this.berth()
    if (this.flags.manage) return this.manageEnv(berth.store, shell, hint)
    let name = this.args.name
    if (this.flags.swarm) {
      if (name) throw new UserError('give either a machine or --swarm, not both', 'usage')
      if (!(await berth.swarm.members(this.flags.swarm)).length) throw new NotFoundError(`swarm "${this.flags.swarm}" does not exist`)
      // A classic group's manager is its endpoint, as `docker-machine env --swarm` pointed at classic Swarm's.
      if (await berth.swarm.mode(this.flags.swarm) === 'classic') return this.manageEnv(berth.store, shell, hint)
      const m = await berth.swarm.manager(this.flags.swarm)
      if (!m) throw new UserError(`no manager of swarm "${this.flags.swarm}" answers`)
      name = m.name
    }
    // docker-machine's `eval $(docker-machine env)`: no name is the machine named "default".
    if (!name && await berth.store.exists('default')) name = 'default'
    if (!name) throw new UserError('No machine name(s) specified and no "default" machine exists.', 'usage')
    const record = await berth.load(name)
    if (record.status !== 'ready') throw new ConflictError(`machine "${name}" is not ready (${record.status})`)
    await requireRunning(berth, record)
    const drift = await berth.drift(record)
    // docker-machine's words for a certificate that does not match the host (scripts grep them).
    if (drift) throw new UserError(`Error checking TLS connection: ${drift}`)
    const engine = await berth.engine(record)
    engine.close()
    // The exports still print (the user may be about to start the engine), but not silently.
    const problem = await engineProblem(berth.ctx, record)
    if (problem) process.stderr.write(`warning: the engine of "${name}" does not answer (${problem}): docker commands will fail until it runs again ("berth restart ${name}" or "berth provision ${name}")\n`)
    const certPath = berth.store.machineDir(name)
    let vars: Array<[string, string | null]> = [
      ['DOCKER_TLS_VERIFY', '1'], ['DOCKER_HOST', engine.url], ['DOCKER_CERT_PATH', certPath], ['DOCKER_MACHINE_NAME', name],
    ]
    if (this.flags['no-proxy']) vars.push(noProxy(await berth.ip(record)))
    if (this.flags['docker-context']) {
      const context = `berth-${name}`
      await writeDockerContext(context, engine.url, certPath, `berth machine ${name}`)
      vars = [['DOCKER_TLS_VERIFY', null], ['DOCKER_HOST', null], ['DOCKER_CERT_PATH', null], ['DOCKER_MACHINE_NAME', name], ...vars.slice(4), ['DOCKER_CONTEXT', context]]
    }
    if (this.flags.json) return this.json(Object.fromEntries(vars))
    process.stdout.write(shellLines(shell, vars, hint))
  }

  /** The running `berth swarm manage` endpoint, with the store's client certificate. */
  private async manageEnv(store: Store, shell: ReturnType<typeof parseShell>, hint: string): Promise<void> {
    const swarm = this.flags.swarm!
    if (this.args.name) throw new UserError('give either a machine or --swarm, not both', 'usage')
    const {readManageState} = await import('../src/manage/index.js')
    const state = await readManageState(store, swarm)
    if (!state) throw new UserError(`no manage endpoint is running for swarm "${swarm}": start one with "berth swarm manage ${swarm}"`)
    let vars: Array<[string, string | null]> = [['DOCKER_TLS_VERIFY', '1'], ['DOCKER_HOST', state.url], ['DOCKER_CERT_PATH', store.certsDir]]
    if (this.flags['docker-context']) {
      const context = `berth-swarm-${swarm}`
      await writeDockerContext(context, state.url, store.certsDir, `berth swarm manage ${swarm}`)
      vars = [['DOCKER_TLS_VERIFY', null], ['DOCKER_HOST', null], ['DOCKER_CERT_PATH', null], ['DOCKER_CONTEXT', context]]
    }
    if (this.flags.json) return this.json(Object.fromEntries(vars))
    process.stdout.write(shellLines(shell, vars, hint))
  }
}
