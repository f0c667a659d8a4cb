#!/usr/bin/env node
/**
 * npm run test:all: every test, in order, each part's wall time printed at the end:
 * the real Kubernetes of every tested release built (or reused), npm test, the real
 * cluster on system containers (npm run test:cluster), and the Debian VM (npm run test:vm).
 * Every part runs even after one fails (each says what it proves); the exit code is the first failure's.
 */
import { spawnSync } from 'node:child_process';

const PARTS = [
  ['kube:build --tested', ['run', 'kube:build', '--', '--tested']],
  ['npm test', ['test']],
  ['test:cluster (real cluster, system containers)', ['run', 'test:cluster']],
  ['test:vm (one Debian VM)', ['run', 'test:vm']],
];

const times = [];
let code = 0;
for (const [name, args] of PARTS) {
  const started = Date.now();
  const result = spawnSync('npm', args, { stdio: 'inherit' });
  const partCode = result.status ?? 1;
  times.push(`  ${name.padEnd(48)} ${String(Math.round((Date.now() - started) / 1000)).padStart(6)} s${partCode ? `  (exit ${partCode})` : ''}`);
  if (partCode && !code) code = partCode;
}
console.log(`\ntest:all parts (wall time):\n${times.join('\n')}`);
process.exitCode = code;
