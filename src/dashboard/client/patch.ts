/**
 * The diff the server pushes and the browser applies: one module for both sides (the page
 * loads this file as it is compiled), so the two can never disagree on the format.
 */

/** Set `v` at path `p`; no `v` means delete. Path [] replaces the whole document. */
export interface Op {
  p: string[]
  v?: unknown
}

type Obj = Record<string, unknown>

const UNSAFE = new Set(['__proto__', 'prototype', 'constructor'])

const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)

export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]))
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a)
    return ka.length === Object.keys(b).length && ka.every(k => Object.hasOwn(b, k) && same(a[k], b[k]))
  }
  return false
}

/**
 * Objects are compared key by key, so a task that moves is one delete and one set, not a new
 * copy of the swarm; arrays and scalars are replaced whole (the views keep lists short).
 */
export function diff(a: unknown, b: unknown, path: string[] = [], out: Op[] = []): Op[] {
  if (isObj(a) && isObj(b)) {
    for (const k of Object.keys(a)) if (!Object.hasOwn(b, k)) out.push({p: [...path, k]})
    for (const k of Object.keys(b)) {
      if (!Object.hasOwn(a, k)) out.push({p: [...path, k], v: b[k]})
      else diff(a[k], b[k], [...path, k], out)
    }
    return out
  }
  if (!same(a, b)) out.push({p: path, v: b})
  return out
}

/** Applies ops in place where it can; returns the (possibly new) root. */
export function apply<T>(doc: T, ops: readonly Op[]): T {
  let root: unknown = doc
  for (const op of ops) {
    // Keys come from engines (ids, names): never let one reach an object's prototype.
    if (op.p.some(k => UNSAFE.has(k))) continue
    if (!op.p.length) {
      root = op.v
      continue
    }
    let at = root as Obj
    for (const k of op.p.slice(0, -1)) {
      if (!isObj(at[k])) at[k] = {}
      at = at[k] as Obj
    }
    const last = op.p[op.p.length - 1]
    if ('v' in op) at[last] = op.v
    else delete at[last]
  }
  return root as T
}
