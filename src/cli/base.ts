/** Shared command plumbing: global flags, one-line errors, progress, Ctrl-C handling. */
import type {Interfaces} from '@oclif/core'
import {Command} from '@oclif/core/command'
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {errorMessage, EXIT_CODES, exitCodeOf, UserError} from '../core/index.js'
import type {Ctx} from '../host/index.js'
import {type Berth, createBerth} from '../machine/index.js'
import type {DriverLoaders} from '../sdk/index.js'
import {Store, defaultStorePath} from '../store/index.js'
import {errorLine} from './dm-lines.js'
import {fsErrorMessage} from './errno.js'
import {Progress, progressOptions} from './progress.js'

/** The machine argument of the commands with `static defaultMachine = true` (one machine, "default" when none is named). */
export const defaultMachineArgs = () => ({name: Args.string({description: 'Machine name; default: the machine named "default"'})})

/** `--json` of the read commands. */
export const jsonFlag = () => ({json: Flags.boolean({summary: 'Machine-readable output'})})

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>

export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    'storage-path': Flags.string({char: 's', summary: 'Folder of the machine store', env: 'BERTH_STORAGE_PATH', helpGroup: 'GLOBAL'}),
    debug: Flags.boolean({char: 'D', summary: 'Stream remote commands and their output to stderr', env: 'BERTH_DEBUG', helpGroup: 'GLOBAL'}),
  }

  /** The driver registry, given by the composition root (commands/_command.ts). */
  protected abstract readonly drivers: DriverLoaders
  protected flags!: BaseFlags<T>
  protected args!: Record<string, string | undefined>
  protected abort = new AbortController()
  /** No machine named: the command works on "default" if it exists (docker-machine's rule). */
  static defaultMachine = false
  private interrupted = 0

  public override async init(): Promise<void> {
    await super.init()
    const {flags, args, argv} = await this.parse(this.ctor as any)
    this.flags = flags as BaseFlags<T>
    this.args = args as Record<string, string | undefined>
    this.argv = argv as string[]
    // docker-machine's commands on one machine take "default" when none is named (Docker Toolbox's
    // `eval $(docker-machine env)`): berth does the same for the commands that say so.
    if ((this.ctor as {defaultMachine?: boolean}).defaultMachine && !this.args.name) {
      if (!await new Store(this.flags['storage-path'] || defaultStorePath()).exists('default')) {
        throw new UserError('No machine name(s) specified and no "default" machine exists.', 'usage')
      }
      this.args.name = 'default'
      this.argv = ['default', ...this.argv]
    }
    // Output is a report on the work, never part of it: a reader gone (`| head`, a closed terminal)
    // must not kill a create halfway, with a VM made and nothing rolled back.
    for (const out of [process.stdout, process.stderr]) out.on('error', () => {})
    // First Ctrl-C: abort and roll back; second: leave at once (the record then shows Error for rm).
    // SIGHUP (the terminal closed) is a Ctrl-C nobody can repeat: roll back too.
    const onSignal = (sig: NodeJS.Signals) => {
      this.interrupted++
      const code = sig === 'SIGHUP' ? 129 : 130
      if (this.interrupted > 1) process.exit(code)
      const what = sig === 'SIGINT' ? 'interrupted' : sig === 'SIGHUP' ? 'hung up' : 'terminated'
      process.stderr.write(`\n${what}: cleaning up (press Ctrl-C again to leave now)\n`)
      this.abort.abort(new UserError(`interrupted by ${sig}`, code))
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    process.on('SIGHUP', onSignal)
  }

  protected ctx(): Ctx {
    const store = new Store(this.flags['storage-path'] || defaultStorePath())
    const debug = this.flags.debug
    return {
      store,
      drivers: this.drivers,
      signal: this.abort.signal,
      progress: (machine, msg) => this.progress(machine, msg),
      debug: debug ? (machine, line) => this.note(`[${machine}] ${line}`) : undefined,
      warn: msg => this.note(`warning: ${msg}`),
    }
  }

  private berthInstance?: Berth

  /** The berth this command works with: the store, the driver registry and this command's output. */
  protected berth(): Berth {
    if (!this.berthInstance) {
      const {store, drivers, ...io} = this.ctx()
      this.berthInstance = createBerth({store, drivers, io})
    }
    return this.berthInstance
  }

  private renderer?: Progress

  private output(): Progress {
    this.renderer ??= new Progress(s => process.stderr.write(s), progressOptions(process.stderr, Boolean(this.flags?.debug)))
    return this.renderer
  }

  /** On a TTY, one live line per host with its elapsed time; otherwise plain "host: step" lines (for logs and CI). */
  protected progress(machine: string, msg: string): void {
    this.output().step(machine, msg)
  }

  /** A warning or note printed while progress may be live: through the same renderer. */
  protected note(line: string): void {
    this.output().message(line)
  }

  protected json(value: unknown): void {
    process.stdout.write(JSON.stringify(value, null, 2) + '\n')
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<void> {
    if (err.message === 'EEXIT: 0' || (err.oclif && err.oclif.exit === 0)) return
    // oclif's parse errors say what to fix on their later lines ("Missing 1 required arg:\nname ...").
    const parse = Boolean(err.oclif) && !(err instanceof UserError)
    const code = parse ? EXIT_CODES.usage : exitCodeOf(err)
    const message = fsErrorMessage(err) ?? (parse ? oneLine(err.message) : errorMessage(err))
    process.stderr.write(`${errorLine(message, err instanceof UserError ? err.code : undefined)}\n`)
    if (this.flags?.debug && !(err instanceof UserError) && err.stack) process.stderr.write(err.stack + '\n')
    process.exitCode = code
  }
}

/** A multi-line message as one line: its lines trimmed, joined, the help pointer last. */
export function oneLine(message: string): string {
  const lines = message.split('\n').map(l => l.trim().replace(/\s{2,}/g, ' ')).filter(Boolean)
  // oclif's note on multiple-value flags follows every missing argument: it is not what went wrong.
  const note = lines.findIndex(l => l.startsWith('Note: '))
  const help = lines.findIndex(l => l.startsWith('See more help'))
  const kept = note >= 0 ? [...lines.slice(0, note), ...(help > note ? lines.slice(help) : [])] : lines
  return kept.map((l, i) => (i < kept.length - 1 && kept[i + 1]!.startsWith('See more help') && !/[.:]$/.test(l) ? l + '.' : l)).join(' ')
}

/** docker-machine's confirmation prompt; -y / -f skip it, and no TTY means no. */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false
  process.stderr.write(`${question} (y/n): `)
  const answer = await new Promise<string>(resolve => {
    process.stdin.once('data', d => resolve(String(d).trim().toLowerCase()))
  })
  process.stdin.pause()
  return answer === 'y' || answer === 'yes'
}
