import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '@outboxkit/test-services';

/** The real built CLI. */
export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

/** A relay child process started from the built binary. */
export interface RelayProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** Parsed JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the first log line whose `msg` is `msg`. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

const started = new Set<ChildProcess>();

/** Starts `node dist/bin.js ...args` with only PATH and the given env (no inherited OUTBOX_* settings). */
export function startRelay(args: readonly string[], env: Record<string, string>): RelayProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      started.delete(child);
      resolve({ code, signal });
    });
  });
  const logs = (): Array<Record<string, unknown>> =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    logs,
    async waitForLog(msg, timeoutMs = 20_000) {
      let found: Record<string, unknown> | undefined;
      const seen = () => {
        found = logs().find((line) => line.msg === msg);
        return found !== undefined || child.exitCode !== null;
      };
      await waitUntil(`log line "${msg}"`, seen, timeoutMs).catch(() => undefined);
      if (found) return found;
      throw new Error(`no log line "${msg}" (exit ${child.exitCode}); stdout:\n${out}\nstderr:\n${err}`);
    },
  };
}

/** Runs the CLI to completion. */
export async function runRelay(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const relay = startRelay(args, env);
  const { code } = await relay.exited;
  return { code, stdout: relay.stdout(), stderr: relay.stderr() };
}

/** Kills (SIGKILL) every relay process this test file started and that is still running. */
export function killStartedRelays(): void {
  for (const child of started) {
    if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
  }
}
