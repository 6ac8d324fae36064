// The API reference: TypeDoc over every entry point of every published package (the `exports`
// maps), written to docs-api/ (gitignored). With --check nothing is written and an export without
// a doc comment, or a broken {@link}, fails the run.
//
//   npm run docs          write docs-api/index.html
//   npm run docs:check    validate only (CI)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Application, LogLevel, type TypeDocOptions } from 'typedoc';
import { publishedPackages, repoRoot } from './workspace.ts';

const check = process.argv.includes('--check');
const outDir = join(repoRoot, 'docs-api');

const entries = publishedPackages().flatMap((pkg) => pkg.entries);
// One program over the entry points' sources, with the packages' compiler flags.
const cacheDir = join(repoRoot, 'node_modules', '.cache', 'typedoc');
mkdirSync(cacheDir, { recursive: true });
const tsconfig = join(cacheDir, 'tsconfig.json');
writeFileSync(
  tsconfig,
  JSON.stringify({
    extends: relative(cacheDir, join(repoRoot, 'tsconfig.base.json')),
    compilerOptions: { noEmit: true },
    files: entries.map((entry) => relative(cacheDir, entry.source)),
  }),
);

const options: Partial<TypeDocOptions> = {
  name: 'outboxkit',
  entryPoints: entries.map((entry) => entry.source),
  entryPointStrategy: 'resolve',
  tsconfig,
  out: outDir,
  readme: 'none',
  excludePrivate: true,
  excludeInternal: true,
  excludeExternals: true,
  disableSources: true, // no commit hashes or local paths in the pages
  logLevel: LogLevel.Warn,
  treatWarningsAsErrors: false,
  treatValidationWarningsAsErrors: true,
  validation: { notExported: false, invalidLink: true, notDocumented: true, rewrittenLink: true, unusedMergeModuleWith: true },
  // Every export: what a user names in an import. Their members are listed, documented where it helps.
  packagesRequiringDocumentation: publishedPackages().map((pkg) => pkg.name),
  requiredToBeDocumented: ['Enum', 'Variable', 'Function', 'Class', 'Interface', 'TypeAlias'],
};

const app = await Application.bootstrapWithPlugins(options);
const project = await app.convert();
if (project === undefined) {
  console.error('docs: TypeDoc could not convert the project (see the errors above)');
  process.exit(1);
}
// Name each module as it is imported (`@outboxkit/outbox-core/testing`), not by its path
// (TypeDoc's `outbox-core/src/testing`: the path below the entries' common folder, /index dropped).
const byPath = new Map(
  entries.map((entry) => [relative(join(repoRoot, 'packages'), entry.source).replace(/\/index\.ts$/, ''), entry.specifier]),
);
for (const module of project.children ?? []) module.name = byPath.get(module.name) ?? module.name;
if (check) {
  app.validate(project);
} else {
  app.validate(project);
  await app.generateDocs(project, outDir);
}
if (app.logger.hasErrors() || app.logger.hasWarnings()) {
  console.error(`\ndocs: ${app.logger.errorCount} error(s), ${app.logger.warningCount} warning(s); every export needs a doc comment.`);
  process.exit(1);
}
console.log(
  check ? `docs:check: ${entries.length} entry points, every export documented` : `docs: ${relative(repoRoot, outDir)}/index.html`,
);
