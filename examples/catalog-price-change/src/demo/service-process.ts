import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A line a child printed: its JSON fields when it was a JSON object, else just the text. */
export interface OutputLine {
  readonly text: string;
  readonly json: Record<string, unknown> | undefined;
}

/** How a child ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * One of the demo's child processes (catalog, basket, relay): reads its output line by line, lets
 * the demo wait for a line, and stops it with SIGTERM (SIGKILL only if it does not exit in time).
 * Only this process is ever signalled, by its own pid.
 */
export class ServiceProcess {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #tail: string[] = [];
  readonly #listeners = new Set<(line: OutputLine) => void>();
  readonly exited: Promise<ExitStatus>;
  #exit: ExitStatus | undefined;

  constructor(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string) {
    this.name = name;
    this.#child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
      // spawn failed (no such file): report it as an exit so no one waits forever.
      this.#child.once('error', (error) => {
        this.#remember(`spawn failed: ${error.message}`);
        this.#exit ??= { code: null, signal: null };
        resolve(this.#exit);
      });
    });
    createInterface({ input: this.#child.stdout! }).on('line', (text) => this.#line(text));
    createInterface({ input: this.#child.stderr! }).on('line', (text) => this.#remember(text));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Calls `listener` for every line printed from now on; returns the function that removes it. */
  onLine(listener: (line: OutputLine) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves to the first line from now on that satisfies `predicate`.
   * @throws when the process exits first or `timeoutMs` passes, with the end of its output.
   */
  waitFor(predicate: (line: OutputLine) => boolean, what: string, timeoutMs: number): Promise<OutputLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${this.name}: no ${what} within ${timeoutMs} ms${this.#tailText()}`)), timeoutMs);
      const remove = this.onLine((line) => {
        if (predicate(line)) done(undefined, line);
      });
      const done = (error: Error | undefined, line?: OutputLine): void => {
        clearTimeout(timer);
        remove();
        if (error) reject(error);
        else resolve(line as OutputLine);
      };
      void this.exited.then((status) => done(new Error(`${this.name} exited (${describe(status)}) before ${what}${this.#tailText()}`)));
    });
  }

  /** SIGTERM, then waits for the exit; SIGKILL after `timeoutMs`. Resolves to how it ended. */
  async stop(timeoutMs = 10_000): Promise<ExitStatus & { killed: boolean }> {
    if (this.#exit) return { ...this.#exit, killed: false };
    this.#child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const first = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') return { ...first, killed: false };
    this.#child.kill('SIGKILL');
    return { ...(await this.exited), killed: true };
  }

  /** The last lines the process printed, for error messages. */
  tail(): readonly string[] {
    return [...this.#tail];
  }

  #line(text: string): void {
    this.#remember(text);
    let json: Record<string, unknown> | undefined;
    if (text.startsWith('{')) {
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
    }
    for (const listener of [...this.#listeners]) listener({ text, json });
  }

  #remember(text: string): void {
    this.#tail.push(text);
    if (this.#tail.length > 15) this.#tail.shift();
  }

  #tailText(): string {
    return this.#tail.length === 0 ? '' : `; its last output:\n    ${this.#tail.join('\n    ')}`;
  }
}

/** `exit code 1` or `signal SIGKILL`. */
export function describe(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}
