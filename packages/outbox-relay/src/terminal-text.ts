// C0 controls (ESC starts terminal escapes; CR and LF forge lines), DEL, C1 controls (0x9b is a
// one-byte CSI on some terminals), the Unicode line and paragraph separators, and the bidi
// controls that reorder what a terminal shows.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

// JSON.stringify escapes C0 controls in strings; a raw one in its output is its own indentation.
const unsafeInJson = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(char: string): string {
  const code = char.charCodeAt(0);
  if (char === '\n') return '\\n';
  if (char === '\r') return '\\r';
  if (char === '\t') return '\\t';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Makes a value from the database safe to print on a terminal: every control character becomes a
 * visible escape (`\x1b`, `\n`, `\u202e`), so a subject, type or error cannot move the cursor,
 * recolour the screen or forge a line of output.
 *
 * @example
 * ```ts
 * terminalSafe('a\u001b[2Jb\nforged') // 'a\\x1b[2Jb\\nforged'
 * ```
 */
export function terminalSafe(text: string): string {
  return text.replace(unsafe, escapeChar);
}

/**
 * `JSON.stringify` for a terminal: JSON already escapes C0 controls; this also escapes DEL, the
 * C1 controls, the line separators and the bidi controls, which JSON leaves raw. Still valid JSON.
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(unsafeInJson, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
