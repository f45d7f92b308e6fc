/**
 * Record-then-rollback for drivers that make several cloud resources. The driver's own data is
 * the ledger: before asking for a resource the driver notes what it will be (`intend`: a name,
 * so a crash mid-call leaves something rm can find), and once it exists what it is (`record`:
 * its id). Every note is saved at once and in order, so a create killed at any point leaves a
 * record that `undo` can clean: undo runs the driver's steps in reverse order of making.
 */

export class Ledger<Data extends object> {
  private chain = Promise.resolve()

  constructor(readonly data: Data, private readonly persist: (data: Data) => Promise<void>) {}

  /**
   * Save the data as it is when the write runs. Writes are serialised: steps running side by
   * side each save, and a late write must never drop an earlier id.
   */
  save(): Promise<void> {
    this.chain = this.chain.then(() => this.persist(structuredClone(this.data)))
    return this.chain
  }

  /** Note what is about to be made (its name), and save before it is asked for. */
  intend(note: Partial<Data>): Promise<void> {
    Object.assign(this.data, note)
    return this.save()
  }

  /** Note what was made (its id, its address), and save. */
  record(note: Partial<Data>): Promise<void> {
    Object.assign(this.data, note)
    return this.save()
  }
}

/** Run steps side by side; every one settles before the first failure is thrown, so each has recorded what it made. */
export async function settleAll(steps: (Promise<unknown> | undefined | false)[]): Promise<void> {
  const results = await Promise.allSettled(steps)
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
}

export interface UndoStep {
  /** The resource, as the user reads it in "could not remove: ...". */
  what: string
  undo(): Promise<unknown>
  /** What comes after depends on this one being gone (a NIC its VM still holds): a failure ends the undo. */
  stop?: boolean
  /** Run only when nothing failed before (shared pieces go only when all else is gone). */
  ifClean?: boolean
}

/**
 * Undo in reverse order of making. `made` lists the steps in the order the resources were
 * made (an inner array: made side by side, undone side by side); absent ones are skipped.
 * Returns one line per resource that could not be removed.
 */
export async function undo(made: (UndoStep | false | undefined | (UndoStep | false | undefined)[])[], opts: {describe?: (err: unknown, what: string) => string} = {}): Promise<string[]> {
  const left: string[] = []
  const describe = opts.describe ?? ((err: unknown) => (err instanceof Error ? err.message : String(err)))
  const one = async (s: UndoStep): Promise<boolean> => {
    if (s.ifClean && left.length) return true
    try {
      await s.undo()
      return true
    } catch (err) {
      left.push(`${s.what}: ${describe(err, s.what)}`)
      return !s.stop
    }
  }
  for (const group of [...made].reverse()) {
    const steps = (Array.isArray(group) ? group : [group]).filter((s): s is UndoStep => Boolean(s))
    const ok = await Promise.all(steps.map(one))
    if (ok.includes(false)) break
  }
  return left
}
