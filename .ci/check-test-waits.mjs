#!/usr/bin/env node
// Fails when a test waits for time instead of for state. A sleep that "should be long enough" makes
// a test pass without the interleaving it claims to exercise on a fast machine and fail on a slow
// one; tests wait on something observable instead (a log line, a row, a counter, a NOTIFY seen),
// polling it with a helper such as waitUntil().
//
// Flags, in test code (see TEST_CODE), every line that calls sleep()/setTimeout()/setInterval() or
// imports node:timers/promises, unless the line itself or the comment block right above it carries
// the marker `sleep-ok: <reason>`. The reason says why time is what the test is about: a lease
// that must expire in real time, an outage that must last, the poll interval of a wait helper.
//
// Run by `npm run lint` (and so by .ci/run). Usage: node .ci/check-test-waits.mjs [file...]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Test code: integration tests, unit tests beside the code, the fault suite, the shared test setup. */
const TEST_CODE = [/^packages\/[^/]+\/test\//, /^packages\/[^/]+\/src\/.*\.test\.ts$/, /^examples\/[^/]+\/test\//, /^faults\//, /^test\//];
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;
const WAIT = /\b(setTimeout|setInterval)\b|\bsleep\w*\s*\(|node:timers\/promises/;
const MARKER = /sleep-ok:\s*(\S.{9,})/;

function testFiles() {
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' });
  return listed.split('\n').filter((file) => SOURCE.test(file) && TEST_CODE.some((pattern) => pattern.test(file)));
}

/** The code of a line, without a trailing `//` comment (good enough: test code has no `//` in strings we care about). */
function codeOf(line) {
  const trimmed = line.trim();
  if (trimmed.startsWith('//') || trimmed.startsWith('*') || trimmed.startsWith('/*')) return '';
  const comment = line.search(/(^|[^:])\/\/(?!\/)/);
  return comment === -1 ? line : line.slice(0, comment + 1);
}

/** The `//` comment lines directly above line `index`. */
function commentAbove(lines, index) {
  const comments = [];
  for (let i = index - 1; i >= 0 && lines[i].trim().startsWith('//'); i--) comments.push(lines[i]);
  return comments;
}

const files = process.argv.length > 2 ? process.argv.slice(2) : testFiles();
const offences = [];
let allowed = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // listed by git but deleted in the work tree
  }
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (!WAIT.test(codeOf(line))) return;
    if (MARKER.test(line) || commentAbove(lines, index).some((comment) => MARKER.test(comment))) {
      allowed++;
      return;
    }
    offences.push(`${file}:${index + 1}: ${line.trim()}`);
  });
}

if (offences.length > 0) {
  process.stderr.write(
    `${offences.join('\n')}\n\n` +
      `${offences.length} wait(s) on time in test code. Wait on observable state instead (a log line, a row, a counter) ` +
      'with a polling helper; where the passing of time is itself what the test exercises, say so on the line or in the ' +
      'comment above it: `// sleep-ok: <reason, at least 10 characters>`.\n',
  );
  process.exit(1);
}
process.stdout.write(`check-test-waits: ${files.length} test files, no unmarked sleep (${allowed} marked)\n`);
