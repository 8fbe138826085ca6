import { Readable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import pg from 'pg';
import { ENTITIES, selectJsonRows, selectRows } from '../src/jobs/exports/entities.js';
import { BUCKET, startS3, type S3Server } from '../test/support/s3.js';
import { time, timeCli, timing, type Benchmark, type Measurement } from './support.js';

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

/** Every entity's `COPY (the export's select) TO STDOUT`, one after the other, as one stream. */
async function* copyAll(client: pg.Client, userId: string, copyOf: (entity: (typeof ENTITIES)[number]) => string) {
  for (const entity of ENTITIES) {
    const sql = copyOf(entity).replace(/:userId/g, pg.escapeLiteral(userId));
    yield* client.query(new CopyOut(sql) as unknown as pg.QueryConfig) as unknown as AsyncIterable<Buffer>;
  }
}

async function floorUpload(
  url: string,
  s3: S3Server,
  userId: string,
  key: string,
  copyOf: (entity: (typeof ENTITIES)[number]) => string,
) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET TimeZone = 'UTC'");
    let bytes = 0;
    const body = Readable.from(copyAll(client, userId, copyOf)).on('data', (chunk: Buffer) => (bytes += chunk.length));
    await new Upload({
      client: s3.client,
      params: { Bucket: BUCKET, Key: key, Body: body },
      partSize: 8 * 1024 * 1024,
      queueSize: 4,
    }).done();
    return bytes;
  } finally {
    await client.end();
  }
}

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
        const floorSelect =
          format === 'csv'
            ? (entity: (typeof ENTITIES)[number]) => `COPY (${selectRows(entity)}) TO STDOUT (FORMAT csv, HEADER)`
            : (entity: (typeof ENTITIES)[number]) => `COPY (${selectJsonRows(entity)}) TO STDOUT`;
        const floor = await time(() => floorUpload(db.url, s3, userId, `floor/${format}`, floorSelect));
        const cli = await timeCli(['export', '--user', userId, '--format', format, '--json'], {
          DATABASE_URL: db.url,
          ...s3.env,
        });
        measurements.push(
          {
            variant: `planner-jobs export --format ${format} (CLI)`,
            items: rows,
            ...timing(cli),
            peakRssMb: cli.peakRssMb,
            note: `${(cli.seconds / floor.seconds).toFixed(2)}× its floor; ${(JSON.parse(cli.stdout).counts.bytes / 2 ** 20).toFixed(0)} MB${format === 'csv' ? ' zipped' : ''}`,
          },
          {
            variant: `floor: COPY ${format === 'csv' ? 'csv' : 'row_to_json'} TO STDOUT → Upload`,
            items: rows,
            ...timing(floor),
            note: `${(floor.value / 2 ** 20).toFixed(0)} MB, uncompressed`,
          },
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
        ...timing(naive),
        note: `first ${naiveRows.toLocaleString('en')} tasks only; RSS grew ${((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(0)} MB in the bench process`,
      });
    } finally {
      await s3.close();
    }
    return measurements;
  },
};
