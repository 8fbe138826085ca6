import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * `mkdir -p` that fails instead of spinning: Node 20's recursive `fs.mkdir` loops forever when the
 * kernel answers ENOENT for a directory whose parent exists (any path under /proc or /sys), and a
 * run would hang where it should say why. Creates each missing component in turn, with `mode`.
 * Throws fs.mkdir's own errors (ENOENT, EACCES, ENOTDIR, EROFS, ENOSPC, ...) with their path.
 */
export async function makeDirectories(dir: string, mode?: number): Promise<void> {
  const missing: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const found = await fs.stat(current).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        return false;
      },
    );
    if (found || path.dirname(current) === current) break;
    missing.push(current);
  }
  for (const component of missing.reverse()) {
    await fs.mkdir(component, { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}
