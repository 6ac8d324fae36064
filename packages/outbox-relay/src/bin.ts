import { main } from './cli.js';

/** Resolves once everything written to the stream so far is handed to the OS (pipes are async in Node). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) resolve();
    else stream.write('', () => resolve());
  });
}

// The shebang comes from tsup's banner. Exit explicitly, so a half-closed driver socket cannot keep
// a finished command alive, but only after stdout and stderr are flushed: `dead list --json` can
// print megabytes into a pipe.
main(process.argv.slice(2), process.env)
  .catch((error: unknown) => {
    process.stderr.write(`outbox-relay: unexpected error: ${String(error)}\n`);
    return 1;
  })
  .then(async (code) => {
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
    process.exit(code);
  });
