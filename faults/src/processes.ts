import { type ChildProcess, spawn } from 'node:child_process';

/** How a child process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const live = new Set<ManagedProcess>();

/**
 * A child process the suite started. It is only ever signalled by its own pid, and every one still
 * running is killed by `stopAllProcesses` (the test files' afterAll) or when the suite exits.
 */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<ExitStatus>;
  #output: string[] = [];
  #stdout = '';
  #stderr = '';

  constructor(
    name: string,
    command: string,
    args: readonly string[],
    options: { env: NodeJS.ProcessEnv; cwd?: string; maxCaptureBytes?: number },
  ) {
    const maxCapture = options.maxCaptureBytes ?? 1_000_000;
    this.name = name;
    this.child = spawn(command, [...args], { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    const keep = (chunk: string): void => {
      this.#output.push(chunk);
      // Keep the tail only: a relay at debug level writes a lot.
      if (this.#output.length > 400) this.#output.splice(0, 200);
    };
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      keep(chunk);
      if (this.#stdout.length < maxCapture) this.#stdout += chunk;
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      keep(chunk);
      if (this.#stderr.length < maxCapture) this.#stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        live.delete(this);
        resolve({ code, signal });
      });
      this.child.once('error', (error) => {
        keep(`spawn error: ${error.message}\n`);
        live.delete(this);
        resolve({ code: -1, signal: null });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && live.has(this);
  }

  /** The tail of stdout and stderr, interleaved. */
  output(): string {
    return this.#output.join('');
  }

  /** The start of stdout (1 MB unless `maxCaptureBytes` says otherwise). */
  stdout(): string {
    return this.#stdout;
  }

  /** The start of stderr (1 MB unless `maxCaptureBytes` says otherwise). */
  stderr(): string {
    return this.#stderr;
  }

  /** Sends `signal` to this process's pid (if it still runs) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitStatus> {
    if (this.running && this.pid !== undefined) {
      try {
        process.kill(this.pid, signal);
      } catch {
        // Already gone between the check and the signal.
      }
    }
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    void this.kill('SIGTERM');
    // sleep-ok: a deadline that escalates SIGTERM to SIGKILL, not a wait
    const timer = setTimeout(() => void this.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Runs a command to completion and returns its exit code and output. */
export async function runToCompletion(
  name: string,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // Admin commands print whole events (`dead list --json` with a 1 MB payload): keep all of it.
  const proc = new ManagedProcess(name, command, args, { env, maxCaptureBytes: 64_000_000 });
  const { code } = await proc.exited;
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** Kills (SIGKILL, by pid) every process the suite started that still runs. */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...live].map((proc) => proc.kill('SIGKILL')));
}

process.once('exit', () => {
  for (const proc of live) {
    if (proc.pid !== undefined) {
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});
