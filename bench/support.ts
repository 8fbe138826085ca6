/**
 * The benchmarks' machinery, by concern under bench/support/: the PostgreSQL server (server.ts),
 * CPU readings from /proc (cpu.ts), timing of variants and child processes (measure.ts), what a
 * benchmark returns (benchmark.ts), the tables (table.ts). This file only re-exports them for
 * callers outside the per-job benchmarks (bench/scale.ts, chaos/, scripts/).
 */
export * from './support/benchmark.js';
export * from './support/measure.js';
export * from './support/server.js';
export * from './support/table.js';
