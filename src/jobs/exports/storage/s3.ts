import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Config } from '../../../core/config.js';
import { configError, describeError, isUnavailable, unavailableError } from '../../../core/errors.js';
import { PROBE_BODY, probeName, type ExportStorage } from './index.js';

const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
// S3's smallest part, two in flight: the upload holds ~15 MB whatever the export's size.
const PART_SIZE = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;
/** A probe that gets no answer within this long: storage is unreachable now. */
const PROBE_TIMEOUT_MS = 20_000;

/**
 * AWS SDK error names (S3's error codes, and the SDK's own for credentials) that say the
 * configuration is wrong, and the variable that fixes each (S3 REST API, "Error responses").
 */
const CREDENTIALS = 'the AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role)';
const MISCONFIGURED: Record<string, string> = {
  CredentialsProviderError: `no credentials were found: set ${CREDENTIALS}`,
  InvalidAccessKeyId: `S3 does not know the access key: check ${CREDENTIALS}`,
  SignatureDoesNotMatch: `S3 refused the signature: check ${CREDENTIALS}`,
  ExpiredToken: `the session token has expired: renew ${CREDENTIALS}`,
  InvalidToken: `S3 refused the session token: check ${CREDENTIALS}`,
  AccessDenied: `S3 refused the write: give ${CREDENTIALS} s3:PutObject on S3_BUCKET`,
  NoSuchBucket: 'S3_BUCKET names a bucket that does not exist',
  InvalidBucketName: 'S3_BUCKET is not a valid bucket name',
  PermanentRedirect: "S3_REGION is not the bucket's region",
  AuthorizationHeaderMalformed: "S3_REGION is not the bucket's region",
  IllegalLocationConstraintException: "S3_REGION is not the bucket's region",
};
/** Names that say S3 cannot serve the request now (throttled, unavailable, timed out). */
const UNAVAILABLE = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'TimeoutError', 'AbortError']);

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

    async probe() {
      const Key = [prefix, probeName()].filter(Boolean).join('/');
      const abortSignal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: PROBE_BODY, ServerSideEncryption: 'AES256' }), {
        abortSignal,
      });
      // Best effort: writing is what exports need; a bucket may grant no delete.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }), { abortSignal }).catch(() => undefined);
    },

    fault(err) {
      if (!(err instanceof Error)) return undefined;
      const name = err.name;
      const from = `export storage s3://${bucket} (${name})`;
      if (name in MISCONFIGURED) return configError(`${from}: ${MISCONFIGURED[name]}`);
      // Socket errors (ECONNREFUSED...) are storage's only when they came through the S3 client,
      // which gives its errors $metadata; a database socket's do not have it.
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const viaS3 = '$metadata' in err;
      if (UNAVAILABLE.has(name) || (viaS3 && (isUnavailable(err) || (status !== undefined && status >= 500)))) {
        return unavailableError(`cannot reach export storage s3://${bucket}: ${describeError(err)}; try again later`, err);
      }
      return undefined;
    },

    close: () => client.destroy(),
  };
}
