import type { Readable } from 'node:stream';
import type { Config } from '../../../core/config.js';
import { fileStorage } from './file.js';

export interface StoredObject {
  contentType: string;
  /** The name the browser saves it under. */
  filename: string;
}

export interface DownloadLink {
  url: string;
  /** NULL for a file:// path, which does not expire. */
  expiresAt: Date | null;
}

/** Where finished exports go. A key is deterministic, so a retry overwrites, never duplicates. */
export interface ExportStorage {
  /** Human name for logs and errors (`s3://bucket`, a directory). */
  readonly where: string;
  key(userId: string, jobId: string, extension: string): string;
  /** Streams `body` to `key`; on failure (or `signal`) nothing is left under `key`, and the original error is thrown. */
  put(key: string, body: Readable, object: StoredObject, signal: AbortSignal): Promise<void>;
  /** A link to download `key`, valid from `at`. */
  link(key: string, at: Date): Promise<DownloadLink>;
  close(): void;
}

/** The AWS SDK is loaded only when S3 is the storage: it costs every other command ~30 MB of memory and startup time. */
export async function openStorage(config: Config): Promise<ExportStorage> {
  if (config.exportStorage === 'file') return fileStorage(config.exportDir);
  const { s3Storage } = await import('./s3.js');
  return s3Storage(config);
}
