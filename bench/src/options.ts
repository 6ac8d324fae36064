/** Command-line options of `npm run bench`. */
export type SuiteName = 'producer' | 'relay' | 'latency' | 'consumer' | 'memory' | 'otel' | 'cluster';

export const ALL_SUITES: readonly SuiteName[] = ['producer', 'relay', 'latency', 'consumer', 'memory', 'otel', 'cluster'];

/** Sizes and durations of one bench run: `--quick` shrinks every one of them to a smoke test. */
export interface Scale {
  /** Backlog of the relay throughput suite (events). */
  readonly relayBacklog: number;
  /** Small backlog for the "does the rate fall with the backlog" comparison. */
  readonly smallBacklog: number;
  /** Backlog drained by the memory suite. */
  readonly memoryBacklog: number;
  /** Distinct aggregate subjects the backlog is spread over. */
  readonly subjects: number;
  /** Seconds of each producer measurement. */
  readonly producerSeconds: number;
  /** Time limit of each outboxkit relay drain in the relay suite (seconds); a drain that empties the backlog sooner stops then. */
  readonly relaySeconds: number;
  /** Time limit of each drain of the memory suite (seconds). */
  readonly memorySeconds: number;
  /** Time limit, in seconds, of the baselines that cannot drain a large backlog (naive relay, pg-transactional-outbox). */
  readonly baselineSeconds: number;
  /** Seconds of each latency measurement, after a one-second warm-up. */
  readonly latencySeconds: number;
  /** Offered loads of the latency suite (events/s). */
  readonly latencyRates: readonly number[];
  /** Events in the stream the consumer suite reads. */
  readonly consumerEvents: number;
  /** Time limit of one consumer measurement (seconds). */
  readonly consumerSeconds: number;
  /** Events in the stream the consumer processes (1 vs 4) read: enough for a steady state of several fresh processes. */
  readonly replicaEvents: number;
  /** Time limit of one measurement of the consumer processes (seconds), the warm-up included. */
  readonly replicaSeconds: number;
  /**
   * Seconds after `go` that the measurement of the consumer processes does not count: each fresh
   * process compiles its hot code first (see `measureReplicas`).
   */
  readonly replicaWarmupSeconds: number;
  /** 1: measure the consumer processes (1 vs 4) and the kill -9 rebalance; 0 skips them (the smoke: forking replicas takes tens of seconds on a loaded machine). */
  readonly consumerReplicas: number;
  /** ack_wait of the durable in the consumer suite's kill -9 measure (seconds): what the recovery waits for. */
  readonly rebalanceAckWaitSeconds: number;
  /** Producer client counts. */
  readonly producerClients: readonly number[];
  /** Seconds of each measure of the otel suite (one child process per variant and measure). */
  readonly otelSeconds: number;
  /** Backlog each relay drain of the otel suite publishes (events). */
  readonly otelRelayBacklog: number;
  /** Records per measure of the cluster suite (3-node JetStream on loopback, R1 and R3). */
  readonly clusterMessages: number;
}

export interface BenchOptions {
  readonly suites: readonly SuiteName[];
  readonly runs: number;
  readonly quick: boolean;
  readonly scale: Scale;
  /** Where the report goes; a temp dir in quick mode. */
  readonly outDir: string | undefined;
  /** Profile one relay drain with `--cpu-prof` and name the top frames. */
  readonly profile: boolean;
}

export const FULL_SCALE: Scale = {
  relayBacklog: 200_000,
  smallBacklog: 20_000,
  memoryBacklog: 1_000_000,
  subjects: 1_000,
  producerSeconds: 3,
  relaySeconds: 15,
  memorySeconds: 40,
  baselineSeconds: 5,
  latencySeconds: 3,
  latencyRates: [500, 1_000, 2_000],
  consumerEvents: 20_000,
  consumerSeconds: 3,
  replicaEvents: 150_000,
  replicaSeconds: 20,
  replicaWarmupSeconds: 5,
  rebalanceAckWaitSeconds: 10,
  consumerReplicas: 1,
  producerClients: [8, 32],
  otelSeconds: 3,
  otelRelayBacklog: 50_000,
  clusterMessages: 100_000,
};

export const QUICK_SCALE: Scale = {
  relayBacklog: 3_000,
  smallBacklog: 2_000,
  memoryBacklog: 10_000,
  subjects: 1_000,
  producerSeconds: 0.5,
  relaySeconds: 10,
  memorySeconds: 10,
  baselineSeconds: 1,
  latencySeconds: 1,
  latencyRates: [1_000],
  consumerEvents: 1_000,
  consumerSeconds: 2,
  replicaEvents: 1_000,
  replicaSeconds: 2,
  replicaWarmupSeconds: 0,
  rebalanceAckWaitSeconds: 1,
  consumerReplicas: 0,
  producerClients: [8],
  otelSeconds: 0.3,
  otelRelayBacklog: 2_000,
  clusterMessages: 2_000,
};

const USAGE = `usage: npm run bench -- [options]
  --suites <list>   comma-separated: ${ALL_SUITES.join(',')} (default: all)
  --runs <n>        measured runs per figure, interleaved with their baselines (default 3; 1 with --quick)
  --quick           a smoke run of a few seconds per suite; writes to a temp dir, not bench/results
  --scale <k=v,...> override sizes, e.g. --scale relayBacklog=100000,memoryBacklog=500000
  --out <dir>       where to write <date>.md and <date>.json (default bench/results)
  --no-profile      skip the --cpu-prof run of the relay
  --help`;

/** Parses argv; throws with the usage text on anything unknown. */
export function parseOptions(argv: readonly string[], defaultOutDir: string): BenchOptions {
  let suites: SuiteName[] = [...ALL_SUITES];
  let runs: number | undefined;
  let quick = false;
  let out: string | undefined;
  let profile = true;
  const overrides: Record<string, number> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return next;
    };
    if (arg === '--help' || arg === '-h') throw new Error(USAGE);
    else if (arg === '--quick') quick = true;
    else if (arg === '--no-profile') profile = false;
    else if (arg === '--runs') runs = Number(value());
    else if (arg === '--out') out = value();
    else if (arg === '--suites') {
      suites = value()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean) as SuiteName[];
      for (const s of suites) if (!ALL_SUITES.includes(s)) throw new Error(`unknown suite ${s}\n${USAGE}`);
    } else if (arg === '--scale') {
      for (const pair of value().split(',')) {
        const [key, raw] = pair.split('=');
        if (!key || !(key in FULL_SCALE) || raw === undefined || !Number.isFinite(Number(raw))) {
          throw new Error(`bad --scale entry ${pair}; keys: ${Object.keys(FULL_SCALE).join(', ')}\n${USAGE}`);
        }
        overrides[key] = Number(raw);
      }
    } else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  // A smoke run measures each figure once unless told otherwise.
  runs ??= quick ? 1 : 3;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer\n${USAGE}`);
  const scale = { ...(quick ? QUICK_SCALE : FULL_SCALE), ...overrides } as Scale;
  return { suites, runs, quick, scale, outDir: out ?? (quick ? undefined : defaultOutDir), profile: profile && !quick };
}
