// Waiting on a condition with a deadline (never a fixed sleep): polls fn every intervalMs until it
// returns something truthy; errors thrown meanwhile are kept and reported on timeout.
export async function waitFor<T>(what: string, ms: number, fn: () => Promise<T | undefined | false>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
