#!/usr/bin/env -S node --max-semi-space-size=2 --
// A small young generation: batches allocate short-lived rows, and peak memory, not
// throughput, is what a CronJob's memory limit has to fit (see README, Benchmarks).
// The final `--` ends Node's own options: without it Node 20 still scans every later argument
// for `--env-file`. (A launcher's node, npx's, scans them too: no option of ours has that name.)
import { runCli } from '../dist/src/cli.js';

await runCli();
