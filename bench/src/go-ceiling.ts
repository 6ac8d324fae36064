/**
 * The machine's JetStream ceiling with the Go client (bench/go/ceiling.go): built once per bench run
 * against Debian's packages in GOPATH mode, without a network. A full run installs the packages when
 * they are missing (`apt-get install golang-go golang-github-nats-io-go-nats-dev`, as root); a quick
 * run never installs. When Go or nats.go cannot be had, the figure is skipped with the reason.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../go/ceiling.go', import.meta.url));
/** Where Debian's golang-*-dev packages put their sources: a GOPATH. */
const DEBIAN_GOPATH = '/usr/share/gocode';
const NATS_GO = path.join(DEBIAN_GOPATH, 'src/github.com/nats-io/nats.go');
const PACKAGES = ['golang-go', 'golang-github-nats-io-go-nats-dev'];

export type GoCeiling = { readonly binary: string; readonly version: string } | { readonly skipped: string };

function goBinary(): string | undefined {
  for (const candidate of ['go', '/usr/lib/go/bin/go', '/usr/bin/go']) {
    const found = spawnSync(candidate, ['version'], { encoding: 'utf8' });
    if (found.status === 0) return candidate;
  }
  return undefined;
}

function tryInstall(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root, so the bench does not install it';
  const apt = spawnSync('apt-get', ['install', '-y', '-qq', ...PACKAGES], {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 300_000,
  });
  if (apt.status !== 0)
    return `apt-get install ${PACKAGES.join(' ')} failed: ${(apt.stderr || apt.error?.message || '').trim().split('\n').pop()}`;
  return undefined;
}

/** Finds (and on a full run installs) Go and nats.go, then builds the ceiling program; never throws. */
export function prepareGoCeiling(install: boolean): GoCeiling {
  let go = goBinary();
  if ((!go || !existsSync(NATS_GO)) && install) {
    const failed = tryInstall();
    if (failed) return { skipped: `Go or nats.go missing and ${failed}` };
    go = goBinary();
  }
  if (!go)
    return {
      skipped: `Go is not installed (${install ? 'installing it failed' : 'a quick run does not install it'}: apt-get install ${PACKAGES.join(' ')})`,
    };
  if (!existsSync(NATS_GO)) return { skipped: `nats.go is not installed under ${DEBIAN_GOPATH} (apt-get install ${PACKAGES[1]})` };
  const source = readFileSync(SOURCE);
  const dir = path.join(os.tmpdir(), 'outboxkit-bench-go');
  mkdirSync(dir, { recursive: true });
  const binary = path.join(dir, `ceiling-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  const env = { ...process.env, GO111MODULE: 'off', GOPATH: DEBIAN_GOPATH, GOCACHE: path.join(dir, 'cache'), GOFLAGS: '' };
  if (!existsSync(binary)) {
    const build = spawnSync(go, ['build', '-o', binary, SOURCE], { encoding: 'utf8', env, timeout: 300_000 });
    if (build.status !== 0)
      return { skipped: `building bench/go/ceiling.go failed: ${(build.stderr || build.error?.message || '').trim()}` };
  }
  const goVersion = spawnSync(go, ['version'], { encoding: 'utf8' })
    .stdout.trim()
    .replace(/^go version /, '');
  const natsGo = /Version\s*=\s*"([^"]+)"/.exec(readFileSync(path.join(NATS_GO, 'nats.go'), 'utf8'))?.[1] ?? 'unknown';
  const version = `${goVersion}, nats.go ${natsGo}`;
  return { binary, version };
}

/** What one run of a ceiling program (the Go client, or NatsPublisher in its own process) measured. */
export interface CeilingRun {
  readonly published: number;
  readonly seconds: number;
  readonly rate: number;
  /** The publishing process's own user + system CPU seconds (Go: over the whole run, getrusage; node: over the publishes). */
  readonly cpuSeconds: number;
}

/** Publishes `count` records to `<prefix>.<type>` (the stream's subjects) and returns the rate. */
export function runGoCeiling(binary: string, url: string, prefix: string, count: number, subjects: number): Promise<CeilingRun> {
  return runCeilingProcess('Go ceiling', binary, ['-url', url, '-prefix', prefix, '-count', String(count), '-subjects', String(subjects)]);
}

const PUBLISH_WORKER = fileURLToPath(new URL('./workers/publish-worker.ts', import.meta.url));

/**
 * The same records through NatsPublisher, a relay batch (`batch`) at a time, in a fresh node process
 * (workers/publish-worker.ts), as the Go program runs in its own: the figure does not depend on what
 * the bench process ran before.
 */
export function runPublisherCeiling(url: string, prefix: string, count: number, subjects: number, batch: number): Promise<CeilingRun> {
  return runCeilingProcess('NatsPublisher ceiling', process.execPath, [
    '--expose-gc',
    '--import',
    'tsx',
    PUBLISH_WORKER,
    url,
    prefix,
    String(count),
    String(subjects),
    String(batch),
  ]);
}

/** Runs a ceiling program and reads the JSON line it prints last. */
function runCeilingProcess(label: string, file: string, args: readonly string[]): Promise<CeilingRun> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: 180_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${label} failed: ${stderr.trim() || error.message}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as CeilingRun);
      } catch {
        reject(new Error(`${label} printed no result: ${stdout}`));
      }
    });
  });
}
