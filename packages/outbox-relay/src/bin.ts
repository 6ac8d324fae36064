import { main } from './cli.js';

// The shebang comes from tsup's banner. Exit explicitly: a half-closed driver socket must not keep
// a finished command alive, and logs are written synchronously, so nothing is lost.
main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`outbox-relay: unexpected error: ${String(error)}\n`);
    process.exit(1);
  },
);
