import fs from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import type { ExportStorage } from './index.js';

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
      await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      try {
        await pipeline(body, createWriteStream(partial, { mode: 0o600 }), { signal });
        await fs.rename(partial, target);
      } catch (err) {
        await fs.rm(partial, { force: true });
        throw err;
      }
    },
    link: async (key) => ({ url: pathToFileURL(fullPath(key)).href, expiresAt: null }),
    close: () => undefined,
  };
}
