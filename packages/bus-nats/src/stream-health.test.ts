import { describe, expect, it } from 'vitest';
import { FullSignal, type StreamInfoLike, streamInfoHealth } from './stream-health.js';

function info(overrides: {
  config?: Partial<StreamInfoLike['config']>;
  state?: Partial<StreamInfoLike['state']>;
  cluster?: StreamInfoLike['cluster'];
}): StreamInfoLike {
  return {
    config: { name: 'EVENTS', num_replicas: 1, discard: 'old', max_msgs: -1, max_bytes: -1, ...overrides.config },
    state: { messages: 10, bytes: 1_000, first_seq: 1, last_seq: 10, ...overrides.state },
    ...(overrides.cluster ? { cluster: overrides.cluster } : {}),
  };
}

describe('streamInfoHealth', () => {
  it('needs a leader and a quorum of current replicas for a replicated stream', () => {
    const replicas = (current: boolean[]) => current.map((c, i) => ({ name: `n${i + 1}`, current: c }));
    const r3 = (cluster: StreamInfoLike['cluster']) => streamInfoHealth(info({ config: { num_replicas: 3 }, cluster }), new FullSignal());
    expect(r3({ leader: 'n0', replicas: replicas([true, true]) })).toEqual({ ok: true });
    expect(r3({ leader: 'n0', replicas: replicas([true, false]) })).toEqual({ ok: true });
    expect(r3({ leader: 'n0', replicas: replicas([false, false]) })).toMatchObject({ ok: false, reason: 'no-leader', detail: /no quorum/ });
    expect(r3({ replicas: replicas([true, true]) })).toMatchObject({ ok: false, reason: 'no-leader', detail: /no leader/ });
  });

  it('says full only for discard: new at a limit', () => {
    expect(streamInfoHealth(info({ config: { max_msgs: 10 } }), new FullSignal())).toEqual({ ok: true });
    expect(streamInfoHealth(info({ config: { max_msgs: 10, discard: 'new' } }), new FullSignal())).toMatchObject({ reason: 'full' });
    expect(streamInfoHealth(info({ config: { max_bytes: 1_000, discard: 'new' } }), new FullSignal())).toMatchObject({ reason: 'full' });
    expect(streamInfoHealth(info({ config: { max_bytes: 2_000, discard: 'new' } }), new FullSignal())).toEqual({ ok: true });
  });

  it('holds a refusal as full until the stream changes or an accepted publish, at most holdMs', () => {
    const full = new FullSignal(60_000);
    const same = info({ config: { max_bytes: 2_000, discard: 'new' } });
    full.refused();
    expect(streamInfoHealth(same, full)).toMatchObject({ reason: 'full' });
    expect(streamInfoHealth(same, full)).toMatchObject({ reason: 'full' });
    expect(streamInfoHealth(info({ config: { max_bytes: 2_000, discard: 'new' }, state: { first_seq: 5 } }), full)).toEqual({ ok: true });
    full.refused();
    expect(streamInfoHealth(same, full)).toMatchObject({ reason: 'full' });
    full.accepted();
    expect(streamInfoHealth(same, full)).toEqual({ ok: true });
    const expired = new FullSignal(-1);
    expired.refused();
    expect(streamInfoHealth(same, expired)).toEqual({ ok: true });
  });
});
