import {table} from '../core/index.js'
import type {Plan} from './plan.js'

const SIGN = {create: '+', change: '~', remove: '-', keep: ' '} as const

/** The plan as a table: one row per machine, what happens to it and why. */
export function planTable(plan: Plan): string {
  return table(['', 'MACHINE', 'GROUP', 'DRIVER', 'ROLE', 'ACTION', 'CHANGES'],
    plan.items.map(i => [SIGN[i.action], i.name, i.group, i.driver, plan.swarm ? i.role : '-', i.action, i.changes.join('; ')]))
}
