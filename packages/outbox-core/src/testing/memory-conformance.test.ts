import { describeInboxStore } from '../conformance/describe-inbox-store.js';
import { describeOutboxStore } from '../conformance/describe-outbox-store.js';
import { describePublisher } from '../conformance/describe-publisher.js';
import { EventDecodeError } from '../errors.js';
import { encodeEvents } from '../event/encode.js';
import { parseSubjectSequence, readGapMarker, SUBJECT_SEQUENCE_HEADER } from '../event/subject-order.js';
import { MemoryBus } from './memory-bus.js';
import { MemoryInboxStore } from './memory-inbox-store.js';
import { MemoryOutboxStore, type MemoryTransaction, memoryTransaction } from './memory-outbox-store.js';

// The in-memory fakes are the reference the SQL stores are compared with: they pass the same suites.
const markers: string[] = [];
describeOutboxStore<MemoryTransaction>('MemoryOutboxStore', () => ({
  createStore: async (options) =>
    new MemoryOutboxStore({
      deadBlocksSubject: options?.deadBlocksSubject,
      subjectSequence: options?.subjectSequence,
      ...(options?.maxEventBytes === undefined ? {} : { maxEventBytes: options.maxEventBytes }),
    }),
  stampsSequences: true,
  writeUnchecked: async (store, events) =>
    (store as MemoryOutboxStore).insertUnchecked(encodeEvents(events, { maxEventBytes: Number.MAX_SAFE_INTEGER })),
  transaction: (_store, fn) => memoryTransaction(fn),
  writeMarker: async (tx, key) => tx.onCommit(() => markers.push(key)),
  countMarkers: async () => markers.length,
  notInTransaction: () => ({ open: false, onCommit: () => {} }),
  dispose: async () => {},
}));

describeInboxStore<MemoryTransaction>('MemoryInboxStore', () => {
  const effects: string[] = [];
  const stores: MemoryInboxStore[] = [];
  return {
    createStore: async () => {
      effects.length = 0;
      const store = new MemoryInboxStore();
      stores.push(store);
      return store;
    },
    writeEffect: async (tx, messageId) => tx.onCommit(() => effects.push(messageId)),
    countEffects: async (messageId) => effects.filter((id) => messageId === undefined || id === messageId).length,
    ageRows: async (ms) => {
      for (const store of stores) store.age(ms);
    },
    lockWaits: async () => stores.at(-1)?.lockWaiters ?? 0,
    dispose: async () => {},
  };
});

describePublisher('MemoryBus', () => {
  let bus = new MemoryBus();
  return {
    createPublisher: async () => {
      bus = new MemoryBus();
      return bus.publisher();
    },
    stored: async () =>
      bus.messages.map((message) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers)) if (!name.startsWith('ce-')) headers[name] = value;
        const sequence = message.headers[SUBJECT_SEQUENCE_HEADER];
        const gap = readGapMarker((name) => message.headers[name], `message ${message.seq}`);
        return {
          id: message.headers['ce-id']!,
          type: message.headers['ce-type']!,
          subject: message.headers['ce-subject']!,
          payload: message.body,
          headers,
          sequence: sequence === undefined ? undefined : parseSubjectSequence(sequence),
          gap: gap instanceof EventDecodeError ? undefined : gap,
        };
      }),
    subjectOrder: true,
    dispose: async () => {},
  };
});
