import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

/** s3rver's built-in credentials; the SDK's default chain reads them from the environment. */
export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
export const BUCKET = 'planner-exports';

export interface S3Server {
  endpoint: string;
  /** The environment a CLI run needs to export to this server. */
  env: Record<string, string>;
  client: S3Client;
  /** Keys under `prefix`. */
  keys(prefix?: string): Promise<string[]>;
  body(key: string): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * A real S3-compatible server in this process, on 127.0.0.1 and a free port, storing into a
 * temporary directory. The SDK reads credentials from process.env (the default chain), so
 * they are set there too.
 */
export async function startS3(): Promise<S3Server> {
  Object.assign(process.env, S3_CREDENTIALS);
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: BUCKET }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return {
    endpoint,
    env: {
      ...S3_CREDENTIALS,
      EXPORT_STORAGE: 's3',
      S3_BUCKET: BUCKET,
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_REGION: 'us-east-1',
    },
    client,
    async keys(prefix = '') {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
      return (listed.Contents ?? []).map((object) => object.Key!);
    },
    async body(key) {
      const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      return Buffer.from(await object.Body!.transformToByteArray());
    },
    async close() {
      client.destroy();
      await server.close();
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}

/** An endpoint where nothing listens: storage down. */
export async function closedEndpoint(): Promise<string> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** S3's answers to a request signed for another region than the bucket's (S3 REST API, "Error responses"). */
const WRONG_REGION = {
  PermanentRedirect: {
    status: 301,
    message: 'The bucket you are attempting to access must be addressed using the specified endpoint.',
  },
  AuthorizationHeaderMalformed: {
    status: 400,
    message: "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'",
  },
} as const;

/**
 * A loopback endpoint that answers every request as S3 answers one signed for the wrong region.
 * s3rver cannot: it checks no region (nor any SigV4 signature), so this is the one storage fault
 * the tests stand in for instead of provoking.
 */
export async function wrongRegionEndpoint(
  code: keyof typeof WRONG_REGION,
): Promise<{ endpoint: string; close(): Promise<void> }> {
  const { status, message } = WRONG_REGION[code];
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(status, { 'content-type': 'application/xml', 'x-amz-bucket-region': 'eu-west-1' });
      response.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>` +
          `<Region>eu-west-1</Region><RequestId>0</RequestId><HostId>0</HostId></Error>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
