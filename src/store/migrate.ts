/**
 * Record migrations, docker/machine's migrate_vN_vN+1: each step is a pure function from the JSON
 * of schema N to that of N+1, applied in order when a record is read, before it is validated.
 *
 * A migrated record is kept in memory, not written back on read: reads take no lock (ls, env,
 * inspect run beside a create that saves its record at every step), so a write-back could put an
 * older state over a newer one. The new shape reaches the disk with the next save, which every
 * change to a machine makes under its lock. Until then an older berth can still read the file.
 *
 * No validator here: ls applies migrations to records it does not re-validate (store.loadAll),
 * and must not load zod for that.
 */

/** Bump with a migration from the version before; record.ts validates this version only. */
export const SCHEMA_VERSION = 2

type Raw = Record<string, unknown>

/**
 * v2 adds `swarmJoin`, the swarm a machine is being put into, saved before the engine is asked to
 * init or join (a create killed just after the join would otherwise leave a node in a swarm its
 * record knows nothing of). A v1 record never recorded one: it has none, and nothing else moves.
 */
function v1ToV2(r: Raw): Raw {
  return {...r, schemaVersion: 2}
}

/** MIGRATIONS[n] turns schema n into schema n + 1. */
const MIGRATIONS: Record<number, (r: Raw) => Raw> = {1: v1ToV2}

/** The record in the current shape; records of a newer berth are refused, never guessed at. */
export function migrateRecord(raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw
  let r = raw as Raw
  const from = r.schemaVersion
  if (typeof from !== 'number' || !Number.isInteger(from)) return r // the validator names the problem
  if (from > SCHEMA_VERSION) throw new Error(`schemaVersion ${from} is newer than this berth reads (${SCHEMA_VERSION}): upgrade berth`)
  for (let v = from; v < SCHEMA_VERSION; v++) {
    const step = MIGRATIONS[v]
    if (!step) throw new Error(`schemaVersion ${from} is too old to migrate`)
    r = step(r)
  }
  return r
}
