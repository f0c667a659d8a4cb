/**
 * Benchmark (part of `npm run bench`): the median wall time of `npm run synth` next to the cdk8s template's
 * default runner (`cdk8s synth` with app `npx ts-node main.ts`) on the same
 * charts, measured in the same run. Goal: ratio <= 0.25.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Wall seconds of one run of a shell command that writes into its own temp output folder. */
function timeOnce(command: string, outdirEnv: (outdir: string) => Record<string, string>): number {
  const outdir = path.join(mkdtempSync(path.join(tmpdir(), 'bench-')), 'dist');
  const started = process.hrtime.bigint();
  const result = spawnSync(command, { cwd: ROOT, shell: true, stdio: 'pipe', env: { ...process.env, ...outdirEnv(outdir) } });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  rmSync(path.dirname(outdir), { recursive: true, force: true });
  if (result.status !== 0) throw new Error(`${command} failed:\n${result.stderr}`);
  return seconds;
}

function measure(command: string, outdirEnv: (outdir: string) => Record<string, string>): number {
  timeOnce(command, outdirEnv); // warm-up: compile caches, file system
  return median(Array.from({ length: RUNS }, () => timeOnce(command, outdirEnv)));
}

export function benchSynth(): string {
  const synth = measure('npm run -s synth', (outdir) => ({ CDK8S_OUTDIR: outdir }));
  const baseline = measure(
    'npx cdk8s synth --check-upgrade=false --app "npx ts-node main.ts"',
    (outdir) => ({ CDK8S_OUTPUT: outdir }),
  );
  return `synth runs=${RUNS} npm-run-synth=${synth.toFixed(2)}s cdk8s-synth+ts-node=${baseline.toFixed(2)}s ratio=${(synth / baseline).toFixed(2)} (goal <= 0.25)`;
}
