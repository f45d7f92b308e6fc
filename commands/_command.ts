/**
 * The composition root: the one place where berth's core meets the driver registry. Every
 * command extends BerthCommand; unit tests build the same context with a fake registry.
 */
import type {Command} from '@oclif/core/command'
import {BaseCommand, perMachineCommand as perMachine, type PerMachineSpec} from '../src/cli/index.js'
import {drivers} from '../drivers/index.js'

export abstract class BerthCommand<T extends typeof Command> extends BaseCommand<T> {
  protected readonly drivers = drivers
}

export const perMachineCommand = (spec: PerMachineSpec) => perMachine(drivers, spec)
