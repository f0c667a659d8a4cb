/**
 * Committed generated files stay what their generators produce: dist/ for
 * the committed cluster.yaml (through `npm run synth` and through
 * `cdk8s synth`), the JSON Schema, and the classes in imports/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { synthesize } from '../charts/app';
import { clusterJsonSchema, JSON_SCHEMA_FILE } from '../config/json-schema';
import { minorOf, SUPPORTED_MINORS, TESTED_RELEASES } from '../config/versions';
import { definitionsDir } from '../scripts/kube-build/openapi';
import { defaultConfig, ROOT } from './helpers';
import { missingPrerequisite } from './prerequisites';

const DIST = path.join(ROOT, 'dist');

function readTree(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((file) => [file, readFileSync(path.join(dir, file), 'utf8')]));
}

const freshDir = (prefix: string) => mkdtempSync(path.join(tmpdir(), prefix));

test('committed dist/ is what the committed cluster.yaml synthesizes (run `npm run synth` and commit)', () => {
  const outdir = path.join(freshDir('dist-'), 'dist');
  synthesize(defaultConfig(), outdir);
  expect(readTree(DIST)).toEqual(readTree(outdir));
});

test('`npm run cdk8s:synth` (cdk8s synth through cdk8s.yaml) writes the same files as `npm run synth`, with no upgrade-check stack trace', () => {
  const outdir = path.join(freshDir('cdk8s-'), 'out');
  const result = spawnSync('npm', ['run', '-s', 'cdk8s:synth', '--', '--output', outdir], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, CLUSTER_CONFIG: '' },
  });
  expect(result.status).toBe(0);
  expect(result.stdout).toContain('Synthesizing application');
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(readTree(outdir)).toEqual(readTree(DIST));
}, 60_000);

test(`committed ${JSON_SCHEMA_FILE} is generated from config/schema.ts (run \`npm run schema\`)`, () => {
  expect(readFileSync(path.join(ROOT, JSON_SCHEMA_FILE), 'utf8')).toBe(clusterJsonSchema());
});

// The Kubernetes version imports/k8s.ts is generated for, as cdk8s.yaml names it.
const IMPORTED = /^\s*-\s*k8s@(\d+\.\d+\.\d+)\s*$/m.exec(readFileSync(path.join(ROOT, 'cdk8s.yaml'), 'utf8'))?.[1];

test('imports/k8s.ts is generated for the newest minor of the window, at its tested release', () => {
  expect(IMPORTED).toBe(TESTED_RELEASES[TESTED_RELEASES.length - 1]);
  expect(minorOf(IMPORTED!)).toBe(SUPPORTED_MINORS.max);
});

const importedDefinitions = path.join(definitionsDir(IMPORTED ?? 'none'), '_definitions.json');
if (!existsSync(importedDefinitions)) {
  missingPrerequisite('imports/k8s.ts is up to date', `needs the API definitions of v${IMPORTED}: run npm run kube:build -- --tested`);
} else {
  test(`imports/k8s.ts is exactly what \`cdk8s import k8s@${IMPORTED}\` generates from the definitions of v${IMPORTED}'s OpenAPI spec, and the Gateway API classes what cdk8s.yaml's imports of the CRDs generate (never edited by hand)`, () => {
    const outdir = freshDir('imports-');
    execFileSync(path.join(ROOT, 'node_modules', '.bin', 'cdk8s'), ['import', '--check-upgrade=false', '--output', outdir], {
      cwd: ROOT,
      stdio: 'pipe',
      env: {
        ...process.env,
        K8S_SCHEMA_DIR: path.dirname(importedDefinitions),
        NODE_OPTIONS: `--require ${path.join(ROOT, 'scripts', 'offline-schema.cjs')}`,
      },
    });
    expect(readFileSync(path.join(outdir, 'k8s.ts'), 'utf8') === readFileSync(path.join(ROOT, 'imports', 'k8s.ts'), 'utf8')).toBe(true);
    // The other imports of cdk8s.yaml: the Gateway API classes, from the CRDs in imports/.
    const generated = readdirSync(outdir).filter((f) => f !== 'k8s.ts' && f.endsWith('.ts')).sort();
    expect(generated).toEqual(['gateway-gateway.networking.k8s.io.ts', 'gatewayclass-gateway.networking.k8s.io.ts', 'httproute-gateway.networking.k8s.io.ts']);
    expect(readdirSync(path.join(ROOT, 'imports')).filter((f) => f.endsWith('.ts')).sort()).toEqual(['k8s.ts', ...generated].sort());
    for (const file of generated) {
      expect({ file, same: readFileSync(path.join(outdir, file), 'utf8') === readFileSync(path.join(ROOT, 'imports', file), 'utf8') }).toEqual({ file, same: true });
    }
  }, 60_000);
}
