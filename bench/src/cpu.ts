/**
 * CPU accounting from /proc: the CPU seconds (utime + stime) the servers spend while a figure is
 * measured, so each figure can say what one event costs each process, not only how fast it went.
 *
 * The servers are found by the port they listen on (the bench's URLs), not by name: other
 * nats-servers (the fault suite's) may run beside the shared one. PostgreSQL is the postmaster and
 * every process under it, including the backends that exited meanwhile (their time is in the
 * postmaster's cutime/cstime once it reaped them). MariaDB and nats-server are one process each.
 * On a machine where /proc cannot be read, every sample is undefined and the report says n/a.
 */

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** CPU seconds of the processes a figure involves, over one measurement. */
export interface CpuSeconds {
  /** The process under test: the relay workers, the consumer (the harness), or the Go client. */
  readonly client?: number;
  /** PostgreSQL (postmaster and its children) or mariadbd. */
  readonly db?: number;
  readonly nats?: number;
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime of one process in seconds (fields 14 and 15; here 11 and 12 after the name), plus its reaped children's when asked. */
export function processCpuSeconds(pid: number, withReapedChildren = false): number | undefined {
  const f = statFields(pid);
  if (!f) return undefined;
  let t = Number(f[11]) + Number(f[12]);
  if (withReapedChildren) t += Number(f[13]) + Number(f[14]);
  return t / clockTicks();
}

/** The postmaster, its live children, and the children it reaped. */
function treeCpuSeconds(root: number): number | undefined {
  const own = processCpuSeconds(root, true);
  if (own === undefined) return undefined;
  let sum = own;
  for (const entry of safeReaddir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === root) continue;
    const f = statFields(pid);
    if (f && Number(f[1]) === root) sum += (Number(f[11]) + Number(f[12])) / clockTicks();
  }
  return sum;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The pid of the process listening on a TCP port on this machine, found through the socket's inode. */
export function pidListeningOn(port: number): number | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is ip:port in hex; state 0A is LISTEN; the inode is column 10.
      if (cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A' && cols[9]) inodes.add(`socket:[${cols[9]}]`);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of safeReaddir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    for (const fd of safeReaddir(`/proc/${pid}/fd`)) {
      try {
        if (inodes.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return pid;
      } catch {
        // the fd closed meanwhile, or it is not ours to read
      }
    }
  }
  return undefined;
}

const portOf = (url: string, fallback: number): number => {
  try {
    return Number(new URL(url).port) || fallback;
  } catch {
    return fallback;
  }
};

/** The local servers of the bench, located once by port; `sample()` reads their CPU seconds now. */
export class ServerCpu {
  readonly #pids: { pg?: number; mysql?: number; nats?: number };

  constructor(urls: { pg: string; mysql: string; nats: string }) {
    this.#pids = {
      pg: pidListeningOn(portOf(urls.pg, 5432)),
      mysql: pidListeningOn(portOf(urls.mysql, 3306)),
      nats: pidListeningOn(portOf(urls.nats, 4222)),
    };
  }

  /** Which servers were found, for the report's note. */
  get found(): { pg: boolean; mysql: boolean; nats: boolean } {
    return { pg: this.#pids.pg !== undefined, mysql: this.#pids.mysql !== undefined, nats: this.#pids.nats !== undefined };
  }

  sample(db: 'pg' | 'mysql' | undefined): { db?: number; nats?: number } {
    const out: { db?: number; nats?: number } = {};
    const dbPid = db === undefined ? undefined : this.#pids[db];
    const dbCpu = dbPid === undefined ? undefined : db === 'pg' ? treeCpuSeconds(dbPid) : processCpuSeconds(dbPid);
    if (dbCpu !== undefined) out.db = dbCpu;
    const natsCpu = this.#pids.nats === undefined ? undefined : processCpuSeconds(this.#pids.nats);
    if (natsCpu !== undefined) out.nats = natsCpu;
    return out;
  }
}

/** CPU seconds per 10,000 events between two samples. */
export function per10k(before: number | undefined, after: number | undefined, events: number): number | undefined {
  if (before === undefined || after === undefined || events <= 0) return undefined;
  return ((after - before) / events) * 10_000;
}
