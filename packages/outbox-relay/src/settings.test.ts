import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commands } from './commands.js';
import { readmeTables, withReadmeTables } from './readme-tables.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the README configuration table', () => {
  it('lists every flag and env var of every command', () => {
    for (const command of commands) {
      for (const setting of command.settings) {
        expect(readme).toContain(`\`--${setting.flag}`);
        if (setting.env) expect(readme).toContain(`\`${setting.env}\``);
      }
    }
  });

  it('is the one generated from settings.ts (npm run readme -w @outboxkit/outbox-relay rewrites it)', () => {
    expect(withReadmeTables(readme)).toBe(readme);
    const tabled = new Set(Object.values(readmeTables).flat());
    for (const command of commands) {
      for (const setting of command.settings) expect(tabled.has(setting), `--${setting.flag} of ${command.name}`).toBe(true);
    }
  });
});
