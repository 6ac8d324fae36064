import type { SqlDialect } from '@outboxkit/outbox-core/driver';

/**
 * A statement cut at its placeholders: `texts[i]` comes before the placeholder that takes
 * `params[indexes[i]]`, and `texts` has one more entry than `indexes`.
 */
export interface SplitStatement {
  readonly texts: readonly string[];
  readonly indexes: readonly number[];
}

/**
 * Cuts `sql` at its placeholders (`$1`..`$n` on PostgreSQL, `?` on MySQL), skipping string
 * literals, quoted identifiers and comments, for libraries whose raw-SQL API has placeholders of
 * its own (Knex's `?`, Drizzle's `sql` template). A PostgreSQL placeholder may appear twice or out
 * of order; `indexes` says which parameter each occurrence takes.
 */
export function splitPlaceholders(sql: string, dialect: SqlDialect): SplitStatement {
  const texts: string[] = [];
  const indexes: number[] = [];
  let start = 0;
  let next = 0;
  let i = 0;
  while (i < sql.length) {
    const char = sql[i]!;
    if (char === "'" || char === '"' || (char === '`' && dialect === 'mysql')) {
      i = skipQuoted(sql, i, char, dialect);
    } else if (char === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (char === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else if (dialect === 'postgres' && char === '$' && isDigit(sql[i + 1]) && !isWordChar(sql[i - 1])) {
      let end = i + 1;
      while (isDigit(sql[end])) end++;
      texts.push(sql.slice(start, i));
      indexes.push(Number(sql.slice(i + 1, end)) - 1);
      start = end;
      i = end;
    } else if (dialect === 'mysql' && char === '?') {
      texts.push(sql.slice(start, i));
      indexes.push(next++);
      start = i + 1;
      i++;
    } else {
      i++;
    }
  }
  texts.push(sql.slice(start));
  return { texts, indexes };
}

// A doubled quote stands for itself; MySQL also escapes with a backslash inside string literals.
function skipQuoted(sql: string, open: number, quote: string, dialect: SqlDialect): number {
  let i = open + 1;
  while (i < sql.length) {
    const char = sql[i];
    if (char === '\\' && dialect === 'mysql' && quote !== '`') {
      i += 2;
    } else if (char === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i += 2;
    } else {
      i++;
    }
  }
  return i;
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= '0' && char <= '9';
}

function isWordChar(char: string | undefined): boolean {
  return char !== undefined && /[\w$]/.test(char);
}
