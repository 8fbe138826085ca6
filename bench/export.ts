import { pipeline, Readable, Transform } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import pg from 'pg';
import { ENTITIES, selectJsonRows, selectRows } from '../src/jobs/exports/entities.js';
import { BUCKET, startS3, type S3Server } from '../test/support/s3.js';
import { cliCompared, type Benchmark, type Measurement } from './support/benchmark.js';
import { time, timeCli, timing } from './support/measure.js';

const NAIVE_SAMPLE = 100_000;

/**
 * `COPY ... TO STDOUT` as a byte stream, straight off the wire (what pg-copy-streams does, in
 * the few lines the floor needs): PostgreSQL's own serialiser, no row parsing in JS.
 */
class CopyOut extends Readable {
  private connection?: { stream: { pause(): void; resume(): void }; query(text: string): void };
  constructor(readonly text: string) {
    super();
  }
  submit(connection: NonNullable<CopyOut['connection']>) {
    this.connection = connection;
    connection.query(this.text);
  }
  handleCopyData(message: { chunk: Buffer }) {
    if (!this.push(message.chunk)) this.connection?.stream.pause();
  }
  handleCommandComplete() {}
  handleReadyForQuery() {
    this.push(null);
  }
  handleError(err: Error) {
    this.destroy(err);
  }
  _read() {
    this.connection?.stream.resume();
  }
}

type CopyOf = (entity: (typeof ENTITIES)[number]) => string;
/** The job's deflate level (src/jobs/exports/formats/csv.ts, where it is not exported). */
const ZIP_LEVEL = 1;

/** One entity's `COPY (the export's select) TO STDOUT` on `client`, as a byte stream. */
const copyOut = (client: pg.Client, userId: string, copyOf: CopyOf, entity: (typeof ENTITIES)[number]) =>
  client.query(
    new CopyOut(copyOf(entity).replace(/:userId/g, pg.escapeLiteral(userId))) as unknown as pg.QueryConfig,
  ) as unknown as Readable;

/** Every entity's COPY, one after the other, as one stream: the JSON floor's body (uncompressed, like the job's JSON). */
const concatenated = async (client: pg.Client, userId: string, copyOf: CopyOf): Promise<Readable> =>
  Readable.from(
    (async function* () {
      for (const entity of ENTITIES) yield* copyOut(client, userId, copyOf, entity);
    })(),
  );

/** A zip of one file per entity, deflated like the job's CSV export, each entry appended once the previous one is written (as the job does). */
async function zipped(client: pg.Client, userId: string, copyOf: CopyOf): Promise<Readable> {
  const { ZipArchive } = await import('archiver');
  const zip = new ZipArchive({ zlib: { level: ZIP_LEVEL } });
  const entities = [...ENTITIES];
  const appendNext = () => {
    const entity = entities.shift();
    if (!entity) return void zip.finalize().catch(() => undefined);
    zip.append(copyOut(client, userId, copyOf, entity), { name: `${entity.name}.csv` });
  };
  zip.on('entry', appendNext);
  appendNext();
  return zip;
}

/** PostgreSQL's own serialiser straight to storage: `body` builds the upload from COPY streams; the bytes uploaded. */
async function floorUpload(
  url: string,
  s3: S3Server,
  key: string,
  body: (client: pg.Client) => Promise<Readable>,
): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET TimeZone = 'UTC'");
    let bytes = 0;
    // Through a counting Transform, as the job does: a node stream the SDK takes, pulled at its pace.
    const counted = pipeline(
      await body(client),
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          done(null, chunk);
        },
      }),
      () => undefined,
    );
    await new Upload({
      client: s3.client,
      params: { Bucket: BUCKET, Key: key, Body: counted },
      partSize: 8 * 1024 * 1024,
      queueSize: 4,
    }).done();
    return bytes;
  } finally {
    await client.end();
  }
}

const FLOORS = {
  csv: {
    variant: 'floor: COPY csv TO STDOUT → zip (deflate level 1) → Upload',
    compared:
      "PostgreSQL's COPY csv of each entity, zipped one file per entity at the job's deflate level, streamed to S3 over one connection from this process (1 thread).",
    body: (userId: string) => (client: pg.Client) =>
      zipped(client, userId, (entity) => `COPY (${selectRows(entity)}) TO STDOUT (FORMAT csv, HEADER)`),
  },
  json: {
    variant: 'floor: COPY row_to_json TO STDOUT → Upload',
    compared:
      "PostgreSQL's row_to_json of each entity through COPY, uncompressed like the job's JSON, streamed to S3 over one connection from this process (1 thread).",
    body: (userId: string) => (client: pg.Client) =>
      concatenated(client, userId, (entity) => `COPY (${selectJsonRows(entity)}) TO STDOUT`),
  },
} as const;

/** One user with `rows` tasks (and a little of everything else), exported in each format. */
export const exportBench: Benchmark = {
  name: 'export',
  describe: ({ rows }) => `export --user: one user with ${rows.toLocaleString('en')} tasks, to s3rver`,
  async run(server, { rows }) {
    const copy = await server.seeded(async (knex) => {
      await knex.raw(`INSERT INTO users (email, display_name, timezone) VALUES ('bench@example.test', 'Bench', 'Europe/Berlin')`);
      await knex.raw(
        `INSERT INTO tasks (user_id, title, description, priority, tags, due_date, completed, completed_at)
         SELECT u.id, 'Task ' || i || ': follow up, "quoted"', CASE WHEN i % 3 = 0 THEN 'Notes for task ' || i || E'\\nsecond line' END,
                (ARRAY['low','medium','high','urgent'])[1 + i % 4], ARRAY['work', 'tag' || (i % 50)],
                '2025-06-01T12:00:00Z'::timestamptz + (i % 1000) * interval '1 hour', i % 2 = 0,
                CASE WHEN i % 2 = 0 THEN '2025-06-01T12:00:00Z'::timestamptz END
           FROM generate_series(1, :rows) i, users u`,
        { rows },
      );
      await knex.raw(
        `INSERT INTO activity_logs (user_id, action, details) SELECT id, 'task.created', jsonb_build_object('i', i) FROM users, generate_series(1, 1000) i`,
      );
    });
    const db = await copy();
    const [{ id: userId }] = await db.knex('users').select('id');
    await db.knex.destroy();
    const s3 = await startS3();
    const measurements: Measurement[] = [];
    try {
      for (const format of ['csv', 'json'] as const) {
        const { variant, compared, body } = FLOORS[format];
        const floor = await time(() => floorUpload(db.url, s3, `floor/${format}`, body(userId)));
        const cli = await timeCli(['export', '--user', userId, '--format', format, '--json'], {
          DATABASE_URL: db.url,
          ...s3.env,
        });
        const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB${format === 'csv' ? ' zipped' : ''}`;
        measurements.push(
          {
            variant: `planner-jobs export --format ${format} (CLI)`,
            items: rows,
            threads: 1,
            compared: cliCompared(`export --format ${format}`),
            floorVariant: variant,
            ...timing(cli),
            peakRssMb: cli.peakRssMb,
            note: mb(JSON.parse(cli.stdout).counts.bytes),
          },
          { variant, items: rows, threads: 1, compared, floorVariant: variant, ...timing(floor), note: mb(floor.value) },
        );
      }

      // Naive: the whole user in memory (select *, JSON.stringify), one PutObject. On a sample only.
      const sample = await copy();
      const naiveRows = Math.min(rows, NAIVE_SAMPLE);
      const rssBefore = process.memoryUsage().rss;
      const naive = await time(async () => {
        const doc: Record<string, unknown> = {};
        for (const entity of ENTITIES) {
          const { rows: all } = await sample.knex.raw(`${selectRows(entity)} LIMIT ${naiveRows}`, { userId });
          doc[entity.name] = all;
        }
        await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'naive.json', Body: JSON.stringify(doc) }));
      });
      await sample.knex.destroy();
      measurements.push({
        variant: 'naive: everything in memory, one PutObject',
        items: naiveRows,
        threads: 1,
        compared:
          'The whole user read into memory (one SELECT per entity), JSON.stringify, one PutObject, from this process (1 thread).',
        floorVariant: FLOORS.json.variant,
        ...timing(naive),
        note: `first ${naiveRows.toLocaleString('en')} tasks only; RSS grew ${((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(0)} MB in the bench process`,
      });
    } finally {
      await s3.close();
    }
    return measurements;
  },
};
