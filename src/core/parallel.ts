/** Run jobs with at most `limit` in flight; results keep the input order. */
export async function parallel<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      try {
        results[i] = {status: 'fulfilled', value: await fn(items[i])}
      } catch (reason) {
        results[i] = {status: 'rejected', reason}
      }
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  return results
}

/** How the hosts of a driver weigh on this machine while they are made. */
export type HostWeight = 'process' | 'vm' | 'remote'

/**
 * The `--parallel` default: lab hosts are processes on this box, so their creates share its
 * cores (an engine's start-up is CPU-bound: four per core keep the cores busy while others wait
 * on SSH); local VMs each keep a core busy; remote hosts wait on networks and APIs.
 */
export function defaultParallel(weight: HostWeight, cores: number): number {
  if (weight === 'process') return Math.max(4, 4 * cores)
  if (weight === 'vm') return Math.max(1, cores)
  return 32
}
