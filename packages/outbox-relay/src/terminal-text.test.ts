import { describe, expect, it } from 'vitest';
import { terminalJson, terminalSafe } from './terminal-text.js';

/** Whether the text holds a raw control character other than the newline ending a line of output. */
function hasControl(text: string): boolean {
  return [...text].some((char) => {
    const code = char.codePointAt(0) ?? 0;
    return (code < 0x20 && char !== '\n') || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x202e;
  });
}

describe('terminalSafe', () => {
  it('escapes terminal escapes, forged lines, C1 and bidi controls', () => {
    const out = terminalSafe('a\u001b[2Jb\nforged\r\u009b31m\u202eevil\u0000\u007f');
    expect(out).toBe('a\\x1b[2Jb\\nforged\\r\\x9b31m\\u202eevil\\x00\\x7f');
    expect(hasControl(out)).toBe(false);
  });

  it('leaves ordinary text, including non-ASCII letters, alone', () => {
    expect(terminalSafe('product-42 · café ✓')).toBe('product-42 · café ✓');
  });
});

describe('terminalJson', () => {
  it('stays valid JSON with the same value and no raw control characters', () => {
    const value = { subject: 'x\u001b]0;title\u0007\u009b\u2028y' };
    const text = terminalJson(value);
    expect(hasControl(text)).toBe(false);
    expect(JSON.parse(text)).toEqual(value);
  });
});
