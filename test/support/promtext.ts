export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format (0.0.4): every line is a HELP, a TYPE or a
 * sample; names and label names are valid; each family's TYPE comes once, before its samples,
 * and its samples are contiguous; no series appears twice; the file ends with a newline.
 */
export function parsePrometheusText(text: string): { types: Record<string, string>; samples: Sample[] } {
  if (!text.endsWith('\n')) throw new Error('must end with a newline');
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
  const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL}="(?:[^"\\\\\\n]|\\\\[\\\\"n])*",?)*)\\})? (\\S+)(?: (-?\\d+))?$`);
  const types: Record<string, string> = {};
  const samples: Sample[] = [];
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    let match: RegExpExecArray | null;
    if ((match = new RegExp(`^# HELP (${NAME}) .+$`).exec(line))) continue;
    if ((match = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      if (types[match[1]]) throw new Error(`second TYPE for ${match[1]}`);
      types[match[1]] = match[2];
      continue;
    }
    match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a valid line: ${JSON.stringify(line)}`);
    const [, name, labelText = '', rawValue] = match;
    if (!types[name]) throw new Error(`sample of ${name} before its TYPE`);
    if (name !== current) {
      if (closed.has(name)) throw new Error(`samples of ${name} are not contiguous`);
      if (current) closed.add(current);
      current = name;
    }
    const value = Number(rawValue);
    if (Number.isNaN(value) && rawValue !== 'NaN') throw new Error(`bad value in ${line}`);
    const labels = Object.fromEntries(
      [...labelText.matchAll(new RegExp(`(${LABEL})="((?:[^"\\\\]|\\\\.)*)"`, 'g'))].map((m) => [m[1], m[2]]),
    );
    const key = `${name}${JSON.stringify(labels)}`;
    if (seen.has(key)) throw new Error(`duplicate series ${key}`);
    seen.add(key);
    samples.push({ name, labels, value });
  }
  return { types, samples };
}
