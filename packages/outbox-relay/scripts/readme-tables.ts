// Rewrites the README's configuration tables from src/settings.ts (`npm run readme`).
import { readFileSync, writeFileSync } from 'node:fs';
import { withReadmeTables } from '../src/readme-tables.js';

const path = new URL('../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withReadmeTables(before);
writeFileSync(path, after);
process.stdout.write(after === before ? 'README.md: tables up to date\n' : 'README.md: tables rewritten\n');
