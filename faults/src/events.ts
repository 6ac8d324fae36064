import { defineEvent } from '@outboxkit/outbox-core';
import { z } from 'zod';

const data = z.object({ seq: z.number().int().nonnegative(), n: z.number().int().positive() });

/** The ordinary event of every scenario: `seq` numbers the run, `n` counts per aggregate key. */
export const ItemChanged = defineEvent('fault.item.changed', { schema: data, source: 'faults' });

/** The event type the poison scenario's handler always fails on, until the worker runs with `FAULT_FIXED=1`. */
export const ItemPoisoned = defineEvent('fault.item.poisoned', { schema: data, source: 'faults' });
