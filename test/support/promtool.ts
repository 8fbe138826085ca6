import { spawnSync } from 'node:child_process';
import { parser } from '@prometheus-io/lezer-promql';

/**
 * Prometheus's own checker (Debian's `prometheus` package ships it; .ci/run installs it).
 * Undefined when it is not installed: the tests that need it skip and say why.
 */
export const PROMTOOL = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0 ? 'promtool' : undefined;
export const NO_PROMTOOL = 'promtool is not installed (apt-get install prometheus); the promtool checks are skipped';
if (!PROMTOOL) console.warn(NO_PROMTOOL);

export interface PromtoolRun {
  code: number | null;
  output: string;
}

/** Runs `promtool ARGS` (stdin from `input`), with its stdout and stderr together for failure messages. */
export function promtool(args: string[], input?: string): PromtoolRun {
  const run = spawnSync(PROMTOOL ?? 'promtool', args, { encoding: 'utf8', input, timeout: 60_000 });
  return { code: run.status, output: `${run.stdout}${run.stderr}${run.error ? String(run.error) : ''}` };
}

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}
export interface Selector {
  metric: string;
  matchers: Matcher[];
}

/**
 * Every vector selector of a PromQL expression, read with Prometheus's own grammar
 * (@prometheus-io/lezer-promql); throws when the expression does not parse.
 */
export function selectorsOf(expr: string): Selector[] {
  const selectors: Selector[] = [];
  const text = (from: number, to: number) => expr.slice(from, to);
  const cursor = parser.parse(expr).cursor();
  do {
    if (cursor.type.isError) throw new Error(`not valid PromQL at ${cursor.from}: ${expr}`);
    if (cursor.name !== 'VectorSelector') continue;
    const node = cursor.node;
    const name = node.getChild('Identifier');
    const matchers = (node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []).map((m) => ({
      label: text(m.getChild('LabelName')!.from, m.getChild('LabelName')!.to),
      op: text(m.getChild('MatchOp')!.from, m.getChild('MatchOp')!.to) as Matcher['op'],
      value: JSON.parse(text(m.getChild('StringLiteral')!.from, m.getChild('StringLiteral')!.to)) as string,
    }));
    if (!name) throw new Error(`a selector without a metric name in ${expr}`);
    selectors.push({ metric: text(name.from, name.to), matchers });
  } while (cursor.next());
  return selectors;
}

/** Whether a series (name and labels) matches a selector; a missing label reads as "", as in PromQL. */
export function matches(selector: Selector, series: { name: string; labels: Record<string, string> }): boolean {
  if (selector.metric !== series.name) return false;
  return selector.matchers.every(({ label, op, value }) => {
    const actual = series.labels[label] ?? '';
    const regex = new RegExp(`^(?:${value})$`);
    return op === '='
      ? actual === value
      : op === '!='
        ? actual !== value
        : op === '=~'
          ? regex.test(actual)
          : !regex.test(actual);
  });
}
