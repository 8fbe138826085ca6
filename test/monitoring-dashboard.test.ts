import { Ajv } from 'ajv';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createGenerator } from 'ts-json-schema-generator';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from '../k8s/monitoring/dashboard.js';
import { FAMILY_NAMES } from '../src/core/metrics.js';
import { dashboardQueries, readDashboard } from './support/dashboard.js';
import { selectorsOf } from './support/promtool.js';

/** The SDK's type declarations, the schema the dashboard is checked against. */
const SDK = path.dirname(createRequire(import.meta.url).resolve('@grafana/grafana-foundation-sdk/dashboard'));
let tsconfig: string;

/**
 * The JSON schema of one of the SDK's types, generated from its declarations. Only the SDK's
 * own files are read (`types: []`), so a global type of the same name (yauzl's `Options`)
 * cannot stand in. A panel's targets are any data source's queries in the Dashboard type;
 * they are checked against the Prometheus query's own schema below.
 */
function schemaOf(module: string, type: string) {
  const file = path.join(SDK, '..', module, 'types.gen.d.ts');
  const schema = createGenerator({ path: file, tsconfig, type, skipTypeCheck: true, topRef: true }).createSchema(type);
  if (module === 'dashboard' && schema.definitions?.Dataquery) schema.definitions.Dataquery = { type: 'object' };
  return schema;
}

type Panel = { type: string; options?: unknown; targets?: { expr: string }[] };
let dashboard: { panels: Panel[]; templating: { list: { type: string; name: string; query: unknown }[] } };
beforeAll(async () => {
  dashboard = await readDashboard();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'planner-jobs-sdk-schema-'));
  tsconfig = path.join(dir, 'tsconfig.json');
  await fs.writeFile(
    tsconfig,
    JSON.stringify({ compilerOptions: { types: [], skipLibCheck: true, module: 'esnext', moduleResolution: 'bundler' } }),
  );
  return () => fs.rm(dir, { recursive: true, force: true });
});

describe("dashboard: k8s/monitoring/dashboard.json follows @grafana/grafana-foundation-sdk's schema", () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const check = (schema: object, value: unknown, what: string) => {
    const validate = ajv.compile(schema);
    expect(validate(value), `${what}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  };

  it('is what the builders produce (run `npm run k8s`)', () => {
    expect(dashboard).toEqual(JSON.parse(JSON.stringify(buildDashboard())));
  });

  it('the dashboard validates against the schema of the Dashboard type', () => {
    check(schemaOf('dashboard', 'Dashboard'), dashboard, 'dashboard');
  }, 60_000);

  it("every target validates against the Prometheus query's schema", () => {
    const schema = schemaOf('prometheus', 'Dataquery');
    for (const panel of dashboard.panels) for (const target of panel.targets ?? []) check(schema, target, panel.type);
  }, 60_000);

  it("each panel's options validate against its panel type's Options schema", () => {
    for (const type of new Set(dashboard.panels.filter((p) => p.type !== 'row').map((p) => p.type))) {
      const schema = schemaOf(type.replace(/-/g, ''), 'Options'); // state-timeline is the SDK's statetimeline
      for (const panel of dashboard.panels.filter((p) => p.type === type)) check(schema, panel.options, type);
    }
  }, 120_000);

  it('a field the schema does not know is refused (the check is strict)', () => {
    const validate = ajv.compile(schemaOf('dashboard', 'Dashboard'));
    expect(validate({ ...dashboard, refreshEvery: '1m' })).toBe(false);
  }, 60_000);
});

describe('dashboard: variables and queries', () => {
  it('has variables for the data source, namespace, instance and job, each allowing all', () => {
    const variables = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    expect(Object.keys(variables)).toEqual(['datasource', 'namespace', 'instance', 'planner_job']);
    for (const name of ['namespace', 'instance', 'planner_job'])
      expect(variables[name]).toMatchObject({ includeAll: true, allValue: '.*' });
  });

  it('every query parses as PromQL and references only metrics the tool writes', () => {
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(10);
    for (const query of queries) for (const { metric } of selectorsOf(query)) expect(FAMILY_NAMES, query).toContain(metric);
  });

  it('every panel query is scoped by the namespace and instance variables', () => {
    for (const panel of dashboard.panels)
      for (const target of panel.targets ?? [])
        expect(target.expr, panel.type).toMatch(/namespace=~"\$namespace",instance=~"\$instance"/);
  });
});
