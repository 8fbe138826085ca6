import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunRecord } from './scenarios/support.js';
import type { Counts } from './types.js';

export interface Row extends Partial<Counts> {
  job: string;
  scenario: string;
  items: number;
  recoverySeconds: number | null;
  /** Wall time of the whole scenario, seeding included. */
  seconds?: number;
  /** Faults that hit a working run. */
  faults: number;
  /** Duplicates an at-least-once job may show: its in-flight items per fault that hit a run, plus its timed-out sends. */
  allowedDuplicates: number;
  /** Half-written items right after the fault, before any rerun. */
  halfWrittenAfterFault?: number;
  exitCodes: number[];
  /** Runs that exited with a code the scenario does not allow. */
  badExits: RunRecord[];
  /** Runs that failed (exit 1, 75, a timeout), with the end of their stderr. */
  failedRuns?: RunRecord[];
  verdict: 'ok' | 'FAIL' | 'skipped';
  note: string;
}

/** ok: nothing duplicated, lost, half-written or wrongly changed, and every run exited as the scenario allows. */
export function verdictOf(row: Omit<Row, 'verdict' | 'note'>): Row['verdict'] {
  const clean =
    (row.duplicates ?? 0) <= row.allowedDuplicates &&
    row.lost === 0 &&
    row.halfWritten === 0 &&
    row.wrong === 0 &&
    (row.halfWrittenAfterFault ?? 0) === 0 &&
    row.badExits.length === 0;
  return clean ? 'ok' : 'FAIL';
}

const cell = (value: number | null | undefined, digits = 0) =>
  value === null || value === undefined ? '–' : value.toFixed(digits);

export function markdownTable(rows: Row[]): string {
  return [
    '| job | scenario | expected | done | duplicates | lost | recovery s | verdict | note |',
    '|---|---|---:|---:|---:|---:|---:|---|---|',
    ...rows.map(
      (row) =>
        `| ${row.job} | ${row.scenario} | ${cell(row.expected)} | ${cell(row.done)} | ${cell(row.duplicates)} | ${cell(row.lost)} | ${cell(row.recoverySeconds, 1)} | ${row.verdict} | ${row.note.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`,
    ),
  ].join('\n');
}

/** The problems a row's verdict rests on, for its note. */
export function problems(row: Omit<Row, 'verdict' | 'note'>): string[] {
  return [
    row.duplicates && row.allowedDuplicates
      ? `at-least-once: ${row.duplicates} resent (allowed ${row.allowedDuplicates}: in flight per fault × ${row.faults} fault(s), plus timed-out sends)`
      : '',
    row.halfWritten ? `${row.halfWritten} half-written` : '',
    row.halfWrittenAfterFault ? `${row.halfWrittenAfterFault} half-written right after the fault` : '',
    row.wrong ? `${row.wrong} changed that should not be` : '',
    ...row.badExits.map(
      (run) => `exit ${run.code} not in [${run.allowed.join(', ')}]${run.message ? `: ${run.message.slice(0, 160)}` : ''}`,
    ),
  ].filter(Boolean);
}

export async function writeResults(
  dir: string,
  rows: Row[],
  meta: { quick: boolean; seed: number; server: string; seconds: number },
): Promise<string> {
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const header = `Chaos suite${meta.quick ? ' (--quick)' : ''}, ${new Date().toISOString()}, seed ${meta.seed}, ${meta.server}, ${machine}; ${meta.seconds.toFixed(0)} s`;
  const markdown = `${header}\n\n${markdownTable(rows)}\n`;
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'latest.md'), markdown);
  await fs.writeFile(
    path.join(dir, 'latest.json'),
    `${JSON.stringify({ ...meta, machine, finishedAt: new Date().toISOString(), rows }, null, 2)}\n`,
  );
  return markdown;
}
