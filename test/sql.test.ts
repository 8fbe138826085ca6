// The SQL fragment type: pure, nothing here opens a connection.
import { describe, expect, test } from 'vitest';
import { Sql, sql } from '../src/core/sql.js';

const NOW = new Date('2025-06-01T12:00:00Z');

describe('sql: a fragment carries its own values', () => {
  test('each value is a placeholder, in order; none is part of the text', () => {
    const fragment = sql`due_date < ${NOW} AND title = ${"O'Brien; DROP TABLE tasks"}`;
    expect(fragment).toMatchObject({ text: 'due_date < ? AND title = ?', values: [NOW, "O'Brien; DROP TABLE tasks"] });
  });

  test('a fragment inside another is spliced in with its values, at its place', () => {
    const cutoff = sql`(${NOW}::timestamptz - make_interval(days => ${90}))`;
    const statement = sql`DELETE FROM job_runs WHERE id <> ${'7'} AND started_at < ${cutoff} RETURNING id`;
    expect(statement).toMatchObject({
      text: 'DELETE FROM job_runs WHERE id <> ? AND started_at < (?::timestamptz - make_interval(days => ?)) RETURNING id',
      values: ['7', NOW, 90],
    });
  });

  test('a question mark written in the text is never a placeholder', () => {
    expect(sql`data ? 'ttl_seconds' AND id = ${1}`).toMatchObject({ text: "data \\? 'ttl_seconds' AND id = ?", values: [1] });
    expect(Sql.text('a ?? b')).toMatchObject({ text: 'a \\?\\? b', values: [] });
  });

  test('casts and names are text, not bindings', () => {
    expect(sql`/* planner-jobs:prune.pruneJobRuns */ SELECT ${'2025-06-01'}::date`).toMatchObject({
      text: '/* planner-jobs:prune.pruneJobRuns */ SELECT ?::date',
      values: ['2025-06-01'],
    });
  });
});

describe('sql: a fragment never turns into text by accident', () => {
  test('put into a plain string, it throws instead of writing [object Object] or losing its values', () => {
    const fragment = sql`id = ${1}`;
    expect(() => `SELECT 1 WHERE ${String(fragment)}`).toThrow(/never into a plain string/);
  });
});
