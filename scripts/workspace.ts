// The published packages of the workspace and their entry points, read from each package.json's
// `exports` map, so a new package or subpath is covered by the API reports and the API reference
// without touching the scripts.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface Entry {
  /** `@outboxkit/outbox-core` or `@outboxkit/outbox-core/testing`. */
  readonly specifier: string;
  /** `outbox-core` or `outbox-core-testing`: the base name of the entry's API report. */
  readonly slug: string;
  /** Absolute path of the built declaration file the `types` condition points to. */
  readonly types: string;
  /** Absolute path of the source file the entry is built from (`src/<subpath>/index.ts` or `src/index.ts`). */
  readonly source: string;
}

export interface PublishedPackage {
  readonly name: string;
  readonly dir: string;
  readonly packageJson: string;
  readonly entries: readonly Entry[];
}

interface ExportTarget {
  readonly types?: string;
  readonly import?: ExportTarget | string;
  readonly default?: ExportTarget | string;
}

function typesOf(target: ExportTarget | string | undefined): string | undefined {
  if (target === undefined || typeof target === 'string')
    return typeof target === 'string' && target.endsWith('.d.ts') ? target : undefined;
  return target.types ?? typesOf(target.import) ?? typesOf(target.default);
}

// dist/testing/index.d.ts -> src/testing/index.ts; dist/index.d.ts -> src/index.ts (tsup's layout).
function sourceOf(dir: string, types: string): string {
  return join(dir, types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts'));
}

export function publishedPackages(): PublishedPackage[] {
  const packagesDir = join(repoRoot, 'packages');
  return readdirSync(packagesDir, { withFileTypes: true })
    .filter((dirent) => dirent.isDirectory())
    .map((dirent) => join(packagesDir, dirent.name))
    .flatMap((dir) => {
      const packageJson = join(dir, 'package.json');
      let manifest: { name: string; private?: boolean; exports?: Record<string, ExportTarget | string> };
      try {
        manifest = JSON.parse(readFileSync(packageJson, 'utf8'));
      } catch {
        return [];
      }
      if (manifest.private || manifest.exports === undefined) return [];
      const unscoped = manifest.name.replace(/^@[^/]+\//, '');
      const entries = Object.entries(manifest.exports).flatMap(([subpath, target]): Entry[] => {
        const types = typesOf(target);
        if (types === undefined) return []; // ./package.json and other non-code exports
        const rest = subpath.replace(/^\.\/?/, '');
        return [
          {
            specifier: rest === '' ? manifest.name : `${manifest.name}/${rest}`,
            slug: rest === '' ? unscoped : `${unscoped}-${rest.replaceAll('/', '-')}`,
            types: join(dir, types),
            source: sourceOf(dir, types),
          },
        ];
      });
      return [{ name: manifest.name, dir, packageJson, entries }];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}
