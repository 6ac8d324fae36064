/** JetStream configuration carries durations in nanoseconds; outboxkit options carry milliseconds. */
export function msToNanos(ms: number): number {
  return Math.round(ms * 1_000_000);
}

export function nanosToMs(nanos: number): number {
  return Math.round(nanos / 1_000_000);
}
