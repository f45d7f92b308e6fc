/**
 * The composition root: the one place where berth's core meets the driver registry. Every
 * command extends BerthCommand, whose this.berth() is createBerth({store, drivers, io}) with the
 * store of --storage-path, this registry and the command's output; unit tests build the same
 * berth with a fake registry (test/fakes/world.ts).
 */
import type {Command} from '@oclif/core/command'
import {BaseCommand, perMachineCommand as perMachine, type PerMachineSpec} from '../src/cli/index.js'
import {drivers} from '../drivers/index.js'

export abstract class BerthCommand<T extends typeof Command> extends BaseCommand<T> {
  protected readonly drivers = drivers
}

export const perMachineCommand = (spec: PerMachineSpec) => perMachine(drivers, spec)
