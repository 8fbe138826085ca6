import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Config } from '../../../core/config.js';
import type { ExitError } from '../../../core/errors.js';
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
  /**
   * Writes and deletes a tiny probe object: proves storage takes a write before anything is
   * claimed. Throws what `fault` makes of the failure (75 or 78), or the error itself.
   */
  probe(): Promise<void>;
  /**
   * What a storage error means for the run, by errno code or AWS SDK error name, never by
   * message: 78 (misconfigured: the message names the variable), 75 (full or unreachable now),
   * or undefined when it is not a fault of the storage (the export's own, or the database's).
   */
  fault(err: unknown): ExitError | undefined;
  close(): void;
}

/** The AWS SDK is loaded only when S3 is the storage: it costs every other command ~30 MB of memory and startup time. */
export async function openStorage(config: Config): Promise<ExportStorage> {
  if (config.exportStorage === 'file') return fileStorage(config.exportDir);
  const { s3Storage } = await import('./s3.js');
  return s3Storage(config);
}

/**
 * Before a run claims anything: storage must take a write, else the run stops with 75 or 78 and
 * no export is charged an attempt (a full disk, a missing bucket or credentials are the run's
 * fault, not an export's).
 */
export async function probeStorage(config: Config): Promise<void> {
  const storage = await openStorage(config);
  try {
    await storage.probe();
  } catch (err) {
    throw storage.fault(err) ?? err;
  } finally {
    storage.close();
  }
}

/**
 * A probe object's name, beside the exports (never a user id, so never an export's key), new for
 * every run: concurrent runs never write and delete the same object. One left behind (a bucket
 * that grants no delete) is removed by the bucket's lifecycle rule on the prefix (docs/exports.md).
 */
export const probeName = () => `.planner-jobs-probe-${randomUUID()}`;
/** A few kilobytes: a block's worth, so a full disk refuses it. */
export const PROBE_BODY = Buffer.alloc(4096, '.');
