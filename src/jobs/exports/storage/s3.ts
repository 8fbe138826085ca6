import { AbortMultipartUploadCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Config } from '../../../core/config.js';
import type { ExportStorage } from './index.js';

const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
// S3's smallest part, two in flight: the upload holds ~15 MB whatever the export's size.
const PART_SIZE = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;

/**
 * S3 (or an S3-compatible server): a multipart `Upload` fed by the export stream, so memory is
 * bounded by parts in flight, then a presigned GET. Credentials come from the SDK's default chain.
 */
export function s3Storage(config: Config): ExportStorage {
  const { bucket, region, endpoint, forcePathStyle, prefix } = config.s3;
  const client = new S3Client({
    region: region ?? 'us-east-1',
    endpoint,
    forcePathStyle,
    // S3-compatible servers (MinIO, s3rver...) do not all speak the streaming checksum trailer.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    where: `s3://${bucket}/${prefix}`,
    key: (userId, jobId, extension) => [prefix, userId, `${jobId}.${extension}`].filter(Boolean).join('/'),

    async put(key, body, object, signal) {
      const upload = new Upload({
        client,
        params: {
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: object.contentType,
          ContentDisposition: `attachment; filename="${object.filename}"`,
          ServerSideEncryption: 'AES256',
        },
        partSize: PART_SIZE,
        queueSize: PARTS_IN_FLIGHT,
        // We abort the multipart upload ourselves, so a failing abort cannot hide the real error.
        leavePartsOnError: true,
      });
      const stop = () => void upload.abort();
      signal.addEventListener('abort', stop, { once: true });
      try {
        await upload.done();
      } catch (err) {
        body.destroy();
        if (upload.uploadId) {
          await client
            .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.uploadId }))
            .catch(() => undefined); // best effort: a bucket lifecycle rule removes what is left
        }
        throw err;
      } finally {
        signal.removeEventListener('abort', stop);
      }
    },

    async link(key, at) {
      // Never beyond 7 days (SigV4's limit), nor beyond the credentials' own expiry.
      const credentials = await client.config.credentials();
      const credentialSeconds = credentials.expiration
        ? Math.floor((credentials.expiration.getTime() - at.getTime()) / 1000)
        : MAX_PRESIGN_SECONDS;
      const seconds = Math.min(config.exportUrlTtlSeconds, MAX_PRESIGN_SECONDS, credentialSeconds);
      if (seconds < 1) throw new Error('the storage credentials expire before a download link could be used');
      const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), {
        expiresIn: seconds,
        signingDate: at,
      });
      return { url, expiresAt: new Date(at.getTime() + seconds * 1000) };
    },

    close: () => client.destroy(),
  };
}
