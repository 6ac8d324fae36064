import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// A service installs only its own ORM: each subpath must load and type-check with the other
// libraries absent. Here they are installed (the tests need them all), so resolving them is refused.
const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const libraries = {
  prisma: [] as string[],
  drizzle: ['drizzle-orm'],
  kysely: ['kysely'],
  typeorm: ['typeorm'],
  knex: ['knex'],
};
const everyLibrary = ['@prisma/client', '@prisma/adapter-pg', '@prisma/adapter-mariadb', 'drizzle-orm', 'kysely', 'typeorm', 'knex'];
const blockedFor = (own: readonly string[]) => everyLibrary.filter((name) => !own.includes(name));
const isBlocked = (specifier: string, blocked: readonly string[]) =>
  blocked.some((name) => specifier === name || specifier.startsWith(`${name}/`));

describe.each(Object.entries(libraries))('@outboxkit/adapters/%s without the other libraries', (subpath, own) => {
  const blocked = blockedFor(own);

  it('loads', async () => {
    const hooks = `export async function resolve(specifier, context, next) {
  if (${JSON.stringify(blocked)}.some((name) => specifier === name || specifier.startsWith(name + '/'))) throw new Error('not installed: ' + specifier);
  return next(specifier, context);
}`;
    const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        `data:text/javascript,${encodeURIComponent(register)}`,
        '--input-type=module',
        '-e',
        `const m = await import('@outboxkit/adapters/${subpath}'); console.log(Object.keys(m).sort().join(','));`,
      ],
      { cwd: packageDir },
    );
    expect(stdout.trim().split(',')).toEqual(expect.arrayContaining([`${subpath}Executor`, `${subpath}Transactions`]));
  });

  it('type-checks (its declarations, with skipLibCheck off)', () => {
    const entry = join(packageDir, 'node_modules', '.cache', `peers-absent-${subpath}.ts`);
    const source = `import { ${subpath}Executor, ${subpath}Transactions } from '@outboxkit/adapters/${subpath}';\nexport const both = [${subpath}Executor, ${subpath}Transactions];\n`;
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: ['node'],
    };
    const host = ts.createCompilerHost(options);
    const readFile = host.readFile.bind(host);
    host.readFile = (file) => (file === entry ? source : readFile(file));
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (file) => file === entry || fileExists(file);
    host.resolveModuleNameLiterals = (literals, containingFile, redirected, compilerOptions, containingSourceFile) =>
      literals.map((literal) =>
        isBlocked(literal.text, blocked)
          ? { resolvedModule: undefined }
          : ts.resolveModuleName(
              literal.text,
              containingFile,
              compilerOptions,
              host,
              undefined,
              redirected,
              ts.getModeForUsageLocation(containingSourceFile, literal, compilerOptions),
            ),
      );
    const program = ts.createProgram([entry], options, host);
    // Only our files are checked (the libraries' own declarations would take a minute and are not ours to fix).
    const ours = program.getSourceFiles().filter((file) => file.fileName === entry || file.fileName.startsWith(join(packageDir, 'dist')));
    const errors = ours
      .flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)])
      .map((diagnostic) => `${diagnostic.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`);
    expect(errors).toEqual([]);
  });
});
