import fs from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { configError, unavailableError } from '../../../core/errors.js';
import { PROBE_BODY, probeName, type ExportStorage } from './index.js';
import { makeDirectories } from '../../../core/directories.js';

/** errno codes (errno(3)) that say the directory cannot take files as configured: fix EXPORT_DIR (78). */
const MISCONFIGURED = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ENOENT', 'ELOOP', 'ENAMETOOLONG']);
/** errno codes that say it cannot take them now: out of space or quota, or a failing device (75). */
const UNAVAILABLE = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'ESTALE', 'EBUSY']);

/**
 * The embedded default: files under EXPORT_DIR. Written to `<file>.partial` and renamed when
 * complete, so a reader never sees half a file and a failure leaves nothing behind.
 */
export function fileStorage(dir: string): ExportStorage {
  const fullPath = (key: string) => path.join(dir, key);
  return {
    where: dir,
    key: (userId, jobId, extension) => path.posix.join(userId, `${jobId}.${extension}`),
    async put(key, body, _object, signal) {
      const target = fullPath(key);
      const partial = `${target}.partial`;
      try {
        await makeDirectories(path.dirname(target), 0o700);
        await pipeline(body, createWriteStream(partial, { mode: 0o600 }), { signal });
        await fs.rename(partial, target);
      } catch (err) {
        body.destroy();
        await fs.rm(partial, { force: true }).catch(() => undefined);
        throw err;
      }
    },
    link: async (key) => ({ url: pathToFileURL(fullPath(key)).href, expiresAt: null }),

    async probe() {
      const probe = fullPath(probeName());
      await makeDirectories(dir, 0o700);
      try {
        await fs.writeFile(probe, PROBE_BODY, { mode: 0o600 });
      } finally {
        await fs.rm(probe, { force: true }).catch(() => undefined);
      }
    },

    fault(err) {
      const code = (err as { code?: unknown } | undefined)?.code;
      // Only file-system calls carry `syscall` with these codes; a database socket's errors are not storage's.
      if (typeof code !== 'string' || typeof (err as { syscall?: unknown }).syscall !== 'string') return undefined;
      if (MISCONFIGURED.has(code)) {
        return configError(`EXPORT_DIR ${dir} cannot take the exports (${code}): make it a directory this user can write`);
      }
      if (UNAVAILABLE.has(code)) {
        return unavailableError(`EXPORT_DIR ${dir} cannot take a write now (${code}); try again once it has space`, err);
      }
      return undefined;
    },
    close: () => undefined,
  };
}
