// Type-checks every ```ts / ```typescript block of the repository's Markdown (the READMEs and
// docs/**) against the built packages, with the strict flags of tsconfig.base.json.
//
//   npm run check:readme-code
//
// Each block is compiled as its own ES module (top-level await allowed), from a folder inside the
// repository so `@outboxkit/*` resolves to the workspace packages' dist/ through their `exports`.
// Two markers, written as an HTML comment on the line(s) before a block:
//   <!-- continues -->             the block goes on from the previous one (uses its names)
//   <!-- no-check: <reason> -->    the block is not compiled; the reason is required
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { repoRoot } from './workspace.ts';

interface Block {
  readonly file: string; // relative to the repository root
  readonly line: number; // the first code line, 1-based
  readonly code: string;
}

interface Unit {
  readonly blocks: readonly Block[];
  readonly path: string;
  readonly text: string;
  // Line of the unit's text (0-based) -> README file and line.
  readonly origin: readonly { file: string; line: number }[];
}

const markdownRoots = ['README.md', 'packages', 'examples', 'bench', 'faults', 'docs'];

function markdownFiles(): string[] {
  const found: string[] = [];
  const walk = (path: string, depth: number): void => {
    if (!existsSync(path)) return;
    if (statSync(path).isFile()) {
      if (path.endsWith('.md')) found.push(path);
      return;
    }
    for (const name of readdirSync(path)) {
      if (name === 'node_modules' || name === 'dist' || name === 'results' || name.startsWith('.')) continue;
      const child = join(path, name);
      // packages/*, examples/*, bench, faults: their README (and a docs/ folder); docs/: everything.
      if (statSync(child).isDirectory() ? depth < 3 : name.endsWith('.md')) walk(child, depth + 1);
    }
  };
  for (const root of markdownRoots) walk(join(repoRoot, root), 0);
  return found.map((path) => relative(repoRoot, path)).sort();
}

const fence = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/;
const noCheck = /<!--\s*no-check(?::\s*(.*?))?\s*-->/;
const continues = /<!--\s*continues\s*-->/;

/** The checked blocks of one Markdown file, grouped into compilation units; throws on a marker without a reason. */
function unitsOf(file: string): Block[][] {
  const lines = readFileSync(join(repoRoot, file), 'utf8').split('\n');
  const units: Block[][] = [];
  let pending = ''; // the HTML comments since the last block
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const open = fence.exec(line);
    if (open === null) {
      if (line.includes('<!--')) pending += line;
      else if (line.trim() !== '') pending = '';
      continue;
    }
    const [, indent = '', marks = '```', lang = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const candidate = lines[j] ?? '';
      if (candidate.trimStart().startsWith(marks) && candidate.trim() === marks) break;
      body.push(candidate.startsWith(indent) ? candidate.slice(indent.length) : candidate);
    }
    const markers = pending;
    pending = '';
    const blockStart = i + 2;
    i = j;
    if (lang !== 'ts' && lang !== 'typescript') continue;
    const skip = noCheck.exec(markers);
    if (skip !== null) {
      if (!skip[1]) throw new Error(`${file}:${blockStart - 1}: <!-- no-check --> needs a reason: <!-- no-check: why -->`);
      continue;
    }
    const block = { file, line: blockStart, code: body.join('\n') };
    const previous = units.at(-1);
    if (continues.test(markers)) {
      if (previous === undefined) throw new Error(`${file}:${blockStart - 1}: <!-- continues --> but no checked block before it`);
      previous.push(block);
    } else {
      units.push([block]);
    }
  }
  return units;
}

function compilerOptions(): ts.CompilerOptions {
  const configPath = join(repoRoot, 'tsconfig.base.json');
  const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(
    config,
    ts.sys,
    repoRoot,
    { noEmit: true, declaration: false, sourceMap: false },
    configPath,
  );
  return { ...parsed.options, noEmit: true };
}

const workDir = join(repoRoot, 'node_modules', '.cache', 'readme-code');
rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
// Without it the folder would inherit the root's "type": "module" only by walking up; explicit is clearer.
writeFileSync(join(workDir, 'package.json'), JSON.stringify({ type: 'module', private: true }));

let units: Unit[] = [];
try {
  units = markdownFiles().flatMap((file) =>
    unitsOf(file).map((blocks) => {
      const origin: { file: string; line: number }[] = [];
      const parts: string[] = [];
      for (const block of blocks) {
        block.code.split('\n').forEach((_, index) => {
          origin.push({ file: block.file, line: block.line + index });
        });
        parts.push(block.code);
      }
      const first = blocks[0] as Block;
      const path = join(workDir, `${first.file.replaceAll('/', '__')}-${first.line}.ts`);
      // `export {}` makes every block a module: top-level await, and no names shared between blocks.
      const text = `${parts.join('\n')}\nexport {};\n`;
      return { blocks, path, text, origin };
    }),
  );
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}

for (const unit of units) writeFileSync(unit.path, unit.text);
const program = ts.createProgram(
  units.map((unit) => unit.path),
  compilerOptions(),
);
const diagnostics = ts.getPreEmitDiagnostics(program);
const byPath = new Map(units.map((unit) => [unit.path, unit]));
const messages = diagnostics.map((diagnostic) => {
  const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ');
  const unit = diagnostic.file && byPath.get(diagnostic.file.fileName);
  if (!diagnostic.file || diagnostic.start === undefined || unit === undefined) return `error TS${diagnostic.code}: ${text}`;
  const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
  const where = unit.origin[line] ?? { file: relative(repoRoot, diagnostic.file.fileName), line: line + 1 };
  return `${where.file}:${where.line}:${character + 1} - error TS${diagnostic.code}: ${text}`;
});
rmSync(workDir, { recursive: true, force: true });

const blockCount = units.reduce((sum, unit) => sum + unit.blocks.length, 0);
const fileCount = new Set(units.map((unit) => unit.blocks[0]?.file)).size;
if (messages.length > 0) {
  console.error(messages.join('\n'));
  console.error(`\n${messages.length} type error(s) in the code blocks of the Markdown files (checked against the built packages).`);
  process.exit(1);
}
console.log(`check:readme-code: ${blockCount} TypeScript blocks in ${fileCount} Markdown files type-check`);
