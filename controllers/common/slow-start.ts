// Slow start: run `count` calls in batches of 1, 2, 4, ... so that when every call fails (quota,
// admission, bad template) only a few requests were spent, while a healthy burst still finishes
// in log2(count) round trips. Stops after the first batch with a failure.
export async function slowStartBatch(count: number, initialBatch: number, fn: (i: number) => Promise<void>): Promise<{ succeeded: number; errors: unknown[] }> {
  let remaining = count;
  let succeeded = 0;
  let batch = Math.min(remaining, initialBatch);
  let index = 0;
  while (batch > 0) {
    const errors: unknown[] = [];
    const calls: Promise<void>[] = [];
    for (let i = 0; i < batch; i++) {
      const n = index++;
      calls.push(fn(n).then(
        () => void succeeded++,
        (e) => void errors.push(e),
      ));
    }
    await Promise.all(calls);
    if (errors.length) return { succeeded, errors };
    remaining -= batch;
    batch = Math.min(remaining, 2 * batch);
  }
  return { succeeded, errors: [] };
}
