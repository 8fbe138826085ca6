#!/usr/bin/env -S node --max-semi-space-size=2
// A small young generation: batches allocate short-lived rows, and peak memory, not
// throughput, is what a CronJob's memory limit has to fit (see README, Benchmarks).
import { runCli } from '../dist/src/cli.js';

await runCli();
