import { type headers, MsgHdrsImpl } from '@nats-io/nats-core';
import { EventDecodeError } from '@outboxkit/outbox-core';
import { reservedHeaderRule } from '@outboxkit/outbox-core/driver';
import { describe, expect, it } from 'vitest';
import { bindingHeaderBytesMax, decodeCloudEvent, encodeRecordHeaders, NATS_CONSTRAINTS, recordHeaders } from './cloud-events.js';

const record = {
  id: '0190a5f4-8f8e-7cc1-9a3c-6f0b8f1d2e3a',
  type: 'catalog.product.price-changed',
  source: 'catalog',
  subject: 'product-1',
  time: '2026-11-26T03:00:00.000Z',
  payload: '{"price":12.5}',
  headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'ce-type': 'forged', 'Nats-Msg-Id': 'forged' },
  attempts: 0,
};
const body = new TextEncoder().encode(record.payload);

describe('recordHeaders / decodeCloudEvent', () => {
  it('leaves out own headers the binding owns, in any case, and writes the dedup id once', () => {
    const h = recordHeaders({
      ...record,
      headers: { 'nats-msg-id': 'forged', 'NATS-ROLLUP': 'all', 'CE-ID': 'x', 'Content-Type': 'x', keep: 'y' },
    });
    const names = [...h].map(([name]) => name);
    expect(names.filter((name) => name.toLowerCase() === 'nats-msg-id')).toEqual(['Nats-Msg-Id']);
    expect(names.some((name) => name.toLowerCase() === 'nats-rollup')).toBe(false);
    expect(names.filter((name) => name.toLowerCase() === 'ce-id')).toEqual(['ce-id']);
    expect(h.get('ce-id')).toBe(record.id);
    expect(h.get('content-type')).toBe('application/json');
    expect(h.get('keep')).toBe('y');
  });

  it('declares every header it writes as reserved', () => {
    for (const [name] of recordHeaders({ ...record, headers: {} })) {
      expect(reservedHeaderRule(name, NATS_CONSTRAINTS), name).toBeDefined();
    }
  });

  it('round-trips an event; the binding wins over record headers of the same name', () => {
    const h = recordHeaders(record);
    expect(h.get('Nats-Msg-Id')).toBe(record.id);
    expect(h.values('Nats-Msg-Id')).toEqual([record.id]);
    expect(decodeCloudEvent(h, body, 'events.x')).toEqual({
      id: record.id,
      type: record.type,
      source: record.source,
      subject: record.subject,
      time: record.time,
      data: { price: 12.5 },
      headers: { traceparent: record.headers.traceparent },
    });
  });

  it.each([
    ['the bench record', record],
    ['no own headers', { ...record, headers: {} }],
    ['a subject sequence', { ...record, sequence: 42 }],
    [
      'padded values, non-ASCII attributes and several own headers',
      {
        ...record,
        subject: ' produit-\u00e9t\u00e9 \u20ac ',
        source: '\u{1f600}catalog',
        headers: { 'X-Tenant': '  acme ', traceparent: record.headers.traceparent, b3: '' },
      },
    ],
  ])("encodes to the bytes the client's own headers encode to: %s", (_, r) => {
    const client = new MsgHdrsImpl();
    for (const [name, value] of Object.entries(r.headers))
      if (reservedHeaderRule(name, NATS_CONSTRAINTS) === undefined) client.set(name, value);
    client.set('ce-specversion', '1.0');
    client.set('ce-id', r.id);
    client.set('ce-type', r.type);
    client.set('ce-source', r.source);
    client.set('ce-subject', r.subject);
    client.set('ce-time', r.time);
    if ('sequence' in r) client.set('ce-subjectseq', String(r.sequence));
    client.set('content-type', 'application/json');
    client.set('Nats-Msg-Id', r.id);
    const encoded = encodeRecordHeaders(r);
    expect(Buffer.from(encoded.encode()).toString()).toBe(Buffer.from(client.encode()).toString());
    expect([...encoded]).toEqual([...client]);
  });

  it.each([
    ['a header name with a colon', { headers: { 'x:y': 'v' } }, /not a valid character in a header name/],
    ['a header name with a space', { headers: { 'x y': 'v' } }, /not a valid character in a header name/],
    ['a header value with CR or LF', { headers: { x: 'a\r\nNats-Rollup: all' } }, /cannot contain/],
    ['an attribute with LF', { subject: 'product\n1' }, /cannot contain/],
  ])('refuses %s as the client does', (_, change, message) => {
    const attempt = () => encodeRecordHeaders({ ...record, ...change });
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect((error as Error).name).toBe('InvalidArgumentError');
    }
  });

  it("reads and edits like the client's headers; an edit is what it sends from then on", () => {
    const h = encodeRecordHeaders(record);
    h.set('x-added', 'yes');
    expect(h.get('x-added')).toBe('yes');
    expect(Buffer.from(h.encode()).toString()).toContain('\r\nx-added: yes\r\n');
    expect(h.keys()).toContain('Nats-Msg-Id');
  });

  it.each([
    ['no headers', undefined, /no headers/],
    [
      'no id',
      (h: ReturnType<typeof headers>) => {
        h.delete('ce-id');
        h.delete('Nats-Msg-Id');
      },
      /no ce-id or Nats-Msg-Id/,
    ],
    ['another spec version', (h: ReturnType<typeof headers>) => h.set('ce-specversion', '0.3'), /ce-specversion "0.3"/],
    ['no source', (h: ReturnType<typeof headers>) => h.delete('ce-source'), /no ce-source/],
    ['no time', (h: ReturnType<typeof headers>) => h.delete('ce-time'), /no ce-time/],
  ])('throws DECODE_FAILED for %s', (_, change, message) => {
    const h = change === undefined ? undefined : recordHeaders(record);
    if (h && change) change(h);
    const attempt = () => decodeCloudEvent(h, body, 'events.x');
    expect(attempt).toThrow(EventDecodeError);
    expect(attempt).toThrow(message);
  });

  it('throws DECODE_FAILED for a body that is not JSON or not UTF-8', () => {
    const h = recordHeaders(record);
    expect(() => decodeCloudEvent(h, new TextEncoder().encode('{"price":'), 'events.x')).toThrow(/does not carry JSON/);
    expect(() => decodeCloudEvent(h, new Uint8Array([0xff, 0xfe]), 'events.x')).toThrow(EventDecodeError);
  });

  it('writes ce-subjectseq for a record with a sequence and reads it back as event.sequence; none without', () => {
    const sequenced = recordHeaders({ ...record, sequence: Number.MAX_SAFE_INTEGER });
    expect(sequenced.get('ce-subjectseq')).toBe('9007199254740991');
    expect(decodeCloudEvent(sequenced, body, 'events.x').sequence).toBe(Number.MAX_SAFE_INTEGER);
    const plain = encodeRecordHeaders(record);
    expect(Buffer.from(plain.encode()).toString()).not.toContain('subjectseq');
    expect(decodeCloudEvent(plain, body, 'events.x')).not.toHaveProperty('sequence');
  });

  it.each(['0', '-1', '1.5', '07', 'abc', '9007199254740992', '12345678901234567890'])(
    'throws DECODE_FAILED for ce-subjectseq %j',
    (value) => {
      const h = recordHeaders(record);
      h.set('ce-subjectseq', value);
      const attempt = () => decodeCloudEvent(h, body, 'events.x');
      expect(attempt).toThrow(EventDecodeError);
      expect(attempt).toThrow(/ce-subjectseq/);
    },
  );

  it('leaves gap-marker headers out of an event and counts the longest sequence in the binding header budget', () => {
    const h = recordHeaders(record);
    h.set('outbox-gap-reason', 'x');
    expect(decodeCloudEvent(h, body, 'events.x').headers).not.toHaveProperty('outbox-gap-reason');
    expect(reservedHeaderRule('Outbox-Gap-Event', NATS_CONSTRAINTS)).toBe('outbox-gap-');
    const longest = 'x'.repeat(255);
    const unsequenced = encodeRecordHeaders({
      ...record,
      id: '00000000-0000-7000-8000-000000000000',
      type: longest,
      source: '\u20ac'.repeat(255),
      subject: '\u20ac'.repeat(255),
      time: '2000-01-01T00:00:00.000Z',
      headers: {},
    }).encode().length;
    expect(bindingHeaderBytesMax()).toBe(unsequenced + '\r\nce-subjectseq: 9007199254740991'.length);
  });
});
