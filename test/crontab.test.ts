import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { JOBS, JOB_NAMES } from '../src/core/catalog.js';
import { parseCron } from '../src/core/schedule.js';
import { cli } from './support/cli.js';

// Not the comments, nor the variable lines (SHELL=, PATH=).
const jobLines = (stdout: string) =>
  stdout.split('\n').filter((line) => line !== '' && !line.startsWith('#') && !/^[A-Z_]+=/.test(line));

describe('crontab: one line per enabled job, from JOB_<NAME>_SCHEDULE / JOB_<NAME>_ENABLED', () => {
  it('with no variables set prints every job at its default schedule, exactly crontab.example', async () => {
    const run = await cli(['crontab'], {});

    expect(run.code).toBe(0);
    expect(run.stdout).toBe(await fs.readFile('crontab.example', 'utf8'));
    const lines = jobLines(run.stdout);
    expect(lines).toHaveLength(JOB_NAMES.length);
    for (const job of JOB_NAMES) {
      expect(lines).toContain(
        `${JOBS[job].schedule} set -a; . /etc/planner-jobs/env; set +a; ${JOBS[job].follows ? 'PLANNER_FOLLOW=true ' : ''}planner-jobs ${job} 2>&1 | logger -t planner-jobs/${job}`,
      );
    }
  });

  it('takes a schedule override, leaves out a disabled job (as a comment), and writes to log files on request', async () => {
    const run = await cli(
      [
        'crontab',
        '--environment-file',
        '/srv/planner jobs.env',
        '--log-dir',
        '/var/log/planner-jobs/',
        '--bin',
        '/opt/pj/bin/planner-jobs',
      ],
      {
        JOB_OVERDUE_SCHEDULE: '*/20 6-22 * * 1-5',
        JOB_CLEANUP_TOKENS_ENABLED: 'false',
      },
    );

    expect(run.code).toBe(0);
    const lines = jobLines(run.stdout);
    expect(lines).toContain(
      "*/20 6-22 * * 1-5 set -a; . '/srv/planner jobs.env'; set +a; /opt/pj/bin/planner-jobs overdue >> /var/log/planner-jobs/overdue.log 2>&1",
    );
    expect(lines.some((line) => line.includes('cleanup-tokens'))).toBe(false);
    expect(run.stdout).toContain('# cleanup-tokens: turned off (JOB_CLEANUP_TOKENS_ENABLED=false)');
    expect(lines).toHaveLength(JOB_NAMES.length - 1);
  });

  it('runs the following jobs (reminders, notifications) with PLANNER_FOLLOW=true, the others without', async () => {
    const lines = jobLines((await cli(['crontab'], {})).stdout);
    for (const job of JOB_NAMES) {
      const line = lines.find((l) => l.includes(` planner-jobs ${job} `))!;
      expect(line.includes(`; PLANNER_FOLLOW=true planner-jobs ${job} `), job).toBe(['reminders', 'notifications'].includes(job));
    }
  });

  it('escapes % (a crontab line ends at an unescaped %)', async () => {
    const run = await cli(['crontab', '--log-dir', '/var/log/100%'], {});
    expect(jobLines(run.stdout)[0]).toContain(">> '/var/log/100\\%/recurring.log' 2>&1");
  });

  it.each([
    ['61 * * * *', /JOB_OVERDUE_SCHEDULE is not a valid cron expression \("61 \* \* \* \*": .*59/],
    ['* * *', /JOB_OVERDUE_SCHEDULE is not a valid cron expression \("\* \* \*": expected 5 fields/],
    ['*/5 * * * * *', /JOB_OVERDUE_SCHEDULE .*expected 5 fields/],
    ['every five minutes', /JOB_OVERDUE_SCHEDULE is not a valid cron expression/],
  ])('a malformed schedule (%s) exits 78 naming the variable, and prints no crontab', async (schedule, message) => {
    const run = await cli(['crontab'], { JOB_OVERDUE_SCHEDULE: schedule });

    expect(run.code).toBe(78);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });

  it('a malformed schedule does not stop the jobs themselves (only crontab and status read schedules)', async () => {
    const run = await cli(['overdue', '--help'], { JOB_OVERDUE_SCHEDULE: 'nonsense' });
    expect(run.code).toBe(0);
  });
});

describe('schedules: the period is the longest gap between two fires', () => {
  it.each([
    ['* * * * *', 60],
    ['*/5 * * * *', 300],
    ['*/15 * * * *', 900],
    ['*/7 * * * *', 420],
    ['0 * * * *', 3600],
    ['30 3 * * *', 86_400],
    ['@hourly', 3600],
    ['0 9 * * 1-5', 3 * 86_400],
  ])('%s → %i s', (expression, seconds) => {
    expect(parseCron(expression).periodSeconds).toBe(seconds);
  });
});
