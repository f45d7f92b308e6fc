/**
 * oclif's help, with one change: `create -d DRIVER --help` lists that driver's flags only
 * (every driver's flags make create's help several screens long).
 */
import {Help} from '@oclif/core/help'
import type {Command} from '@oclif/core/command'

/** The driver named on the command line (-d X, --driver X, --driver=X), else BERTH_DRIVER. */
export function driverInArgv(argv: string[], env: NodeJS.ProcessEnv): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '-d' || a === '--driver') return argv[i + 1]
    if (a.startsWith('--driver=')) return a.slice('--driver='.length)
    if (/^-d.+/.test(a)) return a.slice(2)
  }
  return env.BERTH_DRIVER
}

/** The command's flags without other drivers' groups ("LAB DRIVER" stays for -d lab). */
export function onlyDriverFlags(command: Command.Loadable, driver: string): Command.Loadable {
  const own = `${driver.toUpperCase()} DRIVER`
  const flags = Object.fromEntries(Object.entries(command.flags).filter(([, f]) => !f.helpGroup?.endsWith(' DRIVER') || f.helpGroup === own))
  return {...command, flags}
}

export default class BerthHelp extends Help {
  private argvSeen: string[] = []

  override async showHelp(argv: string[]): Promise<void> {
    this.argvSeen = argv
    return super.showHelp(argv)
  }

  override async showCommandHelp(command: Command.Loadable): Promise<void> {
    const driver = command.id === 'create' ? driverInArgv(this.argvSeen, process.env) : undefined
    return super.showCommandHelp(driver ? onlyDriverFlags(command, driver) : command)
  }
}
