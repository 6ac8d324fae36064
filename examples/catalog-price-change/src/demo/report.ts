/** Terminal output of the demo: plain text, with a little bold and colour on a terminal only. */
const tty = process.stdout.isTTY === true && !process.env.NO_COLOR;
const style = (code: string) => (text: string) => (tty ? `\u001b[${code}m${text}\u001b[0m` : text);

/** Bold on a terminal, plain otherwise (likewise `dim`, `green`, `red`). */
export const bold = style('1');
export const dim = style('2');
export const green = style('32');
export const red = style('31');

/** `12.5` -> `12.50`. */
export function money(value: number): string {
  return value.toFixed(2);
}

/** Seconds with one decimal since `startMs` (a `performance.now()` value). */
export function seconds(startMs: number): string {
  return `${((performance.now() - startMs) / 1_000).toFixed(1)} s`;
}

/** A status line: a dim label column, then the text. */
export function step(label: string, text: string): void {
  console.log(`  ${dim(label.padEnd(9))} ${text}`);
}

/** One propagated change, the line the demo exists for. */
export interface ChangeLine {
  readonly name: string;
  readonly oldPrice: number;
  readonly newPrice: number;
  readonly version: number;
  readonly baskets: readonly string[];
  readonly missing: readonly string[];
  readonly latencyMs: number;
}

/** Column widths of the change table. */
export interface ChangeTable {
  readonly nameWidth: number;
}

/** The header of the change table. */
export function changeHeader(table: ChangeTable): void {
  console.log(
    dim(
      `  ${'product'.padEnd(table.nameWidth)}  ${'old'.padStart(6)}    ${'new'.padStart(6)}  version  ${'baskets updated'.padEnd(30)} commit -> applied`,
    ),
  );
}

/** One row of the change table: product, old -> new price, version, baskets, latency, ok or what is missing. */
export function changeRow(table: ChangeTable, line: ChangeLine): void {
  const baskets = `${line.baskets.length} (${line.baskets.join(', ')})`;
  const mark = line.missing.length === 0 ? green('ok') : red(`MISSING ${line.missing.join(', ')}`);
  console.log(
    `  ${line.name.padEnd(table.nameWidth)}  ${money(line.oldPrice).padStart(6)} -> ${bold(money(line.newPrice).padStart(6))}  ` +
      `${`v${line.version}`.padEnd(7)}  ${baskets.padEnd(30)} ${`${line.latencyMs} ms`.padStart(6)}  ${mark}`,
  );
}
