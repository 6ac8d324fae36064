/** The progress line on stderr: rewritten in place on a terminal, one line per step otherwise (CI logs). */
const started = Date.now();
let last = '';

export function progress(message: string): void {
  const elapsed = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  const line = `[bench ${elapsed}s] ${message}`;
  if (process.stderr.isTTY) {
    process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
  } else {
    process.stderr.write(`${line}\n`);
  }
  last = line;
}

/** Ends the in-place line so later output starts on a fresh one. */
export function progressDone(): void {
  if (process.stderr.isTTY && last) process.stderr.write('\n');
  last = '';
}
