/**
 * Waits until `timeoutMs` passes, `signal` aborts, or the wake function handed to `register` is
 * called while `ready()` holds. `register(null)` once the wait is over, so a late wake is a no-op.
 * The subscribers' fetch loops wait on it for their pulls.
 */
export function waitForWake(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  register: (wake: (() => void) | null) => void,
  ready: () => boolean = () => true,
): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      register(null);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    signal?.addEventListener('abort', done, { once: true });
    register(() => {
      if (ready()) done();
    });
  });
}
