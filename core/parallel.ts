/** Runs fn(0) … fn(count − 1), at most `width` at a time; rejects with the first failure. */
export async function inParallel (count: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(width, count) }, async () => {
    while (next < count) await fn(next++)
  }))
}
