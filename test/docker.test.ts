import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';

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
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0].lines;
    expect(build.some((l) => l.keyword === 'RUN' && /npm ci\b/.test(l.args))).toBe(true);
    expect(build.some((l) => l.keyword === 'RUN' && /tsc -p tsconfig\.build\.json/.test(l.args))).toBe(true);
    expect(build.some((l) => l.keyword === 'RUN' && /npm prune --omit=dev/.test(l.args))).toBe(true);
    const copies = runtime.lines.filter((l) => l.keyword === 'COPY').map((l) => l.args);
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
