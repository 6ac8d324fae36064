import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commands } from './commands.js';

describe('the README configuration table', () => {
  it('lists every flag and env var of every command', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const command of commands) {
      for (const setting of command.settings) {
        expect(readme).toContain(`\`--${setting.flag}`);
        if (setting.env) expect(readme).toContain(`\`${setting.env}\``);
      }
    }
  });
});
