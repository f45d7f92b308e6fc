/**
 * At most n at once. A cloud boots a bounded number of VMs together (the rest wait in BUILD or
 * Creating), and the simulators' lab hosts all take one lease lock on this box: a hundred boots
 * at once would time that lock out.
 */
export function slots(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0
  const queue: (() => void)[] = []
  return async fn => {
    while (active >= n) await new Promise<void>(resolve => queue.push(resolve))
    active++
    try {
      return await fn()
    } finally {
      active--
      queue.shift()?.()
    }
  }
}
