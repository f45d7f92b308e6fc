import {table} from '../core/index.js'
import type {Plan} from './plan.js'

const SIGN = {create: '+', change: '~', remove: '-', keep: ' '} as const

/** The plan as a table: one row per machine, what happens to it and why. */
export function planTable(plan: Plan): string {
  return table(['', 'MACHINE', 'GROUP', 'DRIVER', 'ROLE', 'ACTION', 'CHANGES'],
    plan.items.map(i => [SIGN[i.action], i.name, i.group, i.driver, plan.swarm ? i.role : '-', i.action, i.changes.join('; ')]))
}

/** The swarm line above the table: its name, mode and mesh, so a file's cluster shape is seen before anything is made. */
export function planHeader(plan: Plan): string | undefined {
  if (!plan.swarm) return undefined
  if (plan.mode === 'classic') return `swarm ${plan.swarm}: classic group (engines not in swarm mode, placed by berth swarm manage)`
  return `swarm ${plan.swarm}: swarm mode, ${plan.mesh ? `WireGuard mesh on ${plan.mesh.subnet}, ${plan.mesh.port}/udp` : 'no mesh'}`
}
