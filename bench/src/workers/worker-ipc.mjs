// The parent link every bench worker process shares (spawned by spawn.ts, messages in protocol.ts).

/**
 * Sends `message` to the parent and resolves once it is written to the IPC channel: a large one
 * (the acks of a run) is still queued when `process.send` returns, and disconnecting then loses it.
 * @param {import('./protocol.js').WorkerMessage} message
 */
export const send = (message) =>
  new Promise((resolve) => {
    if (!process.send) return resolve(undefined);
    process.send(message, undefined, undefined, () => resolve(undefined));
  });

/** Resolves at the parent's next message (its "go" or "stop"). */
export const nextMessage = () => new Promise((resolve) => process.once('message', () => resolve(undefined)));

/** The wall clock in ms, comparable across the parent and its workers. */
export const wallMs = () => performance.timeOrigin + performance.now();

/**
 * Runs the worker's `main`, then disconnects; a failure is sent to the parent with its stack and
 * the process exits 1.
 * @param {() => Promise<void>} main
 */
export function runWorker(main) {
  main().then(
    () => process.disconnect?.(),
    async (error) => {
      process.exitCode = 1;
      await send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      process.disconnect?.();
    },
  );
}
