/**
 * Polls `check` until it holds; throws naming `what` after `timeoutMs`. The one way tests,
 * benchmarks and the fault suite wait: on observable state, never on a fixed sleep
 * (.ci/check-test-waits.mjs keeps it so).
 * @param {string} what
 * @param {() => boolean | Promise<boolean>} check
 * @param {number} [timeoutMs]
 * @param {number} [intervalMs]
 * @returns {Promise<void>}
 */
export async function waitUntil(what, check, timeoutMs = 30_000, intervalMs = 25) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    // sleep-ok: the poll interval between two looks at the state waited for
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
