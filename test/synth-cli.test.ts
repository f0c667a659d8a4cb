/**
 * `npm run synth` as a user runs it: the real entry point in a child process,
 * real files, exit codes and output.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { synthesize } from '../charts/app';
import type { ClusterConfig } from '../config/schema';
import { defaultConfig, ROOT } from './helpers';

function snapshotTree(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));
}

/** A workspace with a copy of the committed dist/ and a config file to edit. */
function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'synth-cli-'));
  const outdir = path.join(dir, 'dist');
  cpSync(path.join(ROOT, 'dist'), outdir, { recursive: true });
  return { dir, outdir, config: path.join(dir, 'cluster.yaml') };
}

function synth(args: string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'main.ts'), ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, INIT_CWD: ROOT, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const badConfig = stringify({
  kubernetes: { version: '1.38.0' },
  nodes: [{ name: 'k8s-node1', address: '192.168.83.133', role: 'master' }],
  tomcat6: { replicas: -1, nodePort: 80 },
});

test('a bad config: one line per problem on stderr, exit 1, no stack trace, dist/ byte-for-byte unchanged', () => {
  const ws = workspace();
  writeFileSync(ws.config, badConfig);
  const before = snapshotTree(ws.outdir);
  const result = synth([], { CLUSTER_CONFIG: ws.config, CDK8S_OUTDIR: ws.outdir });
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(4);
  expect(lines[0]).toMatch(/cluster\.yaml:2:12: kubernetes\.version: "1\.38\.0" is outside the supported window/);
  expect(lines.some((l) => /nodes\[0\]\.role: "master" must be control-plane or worker/.test(l))).toBe(true);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(snapshotTree(ws.outdir)).toEqual(before);
  expect(readdirSync(ws.dir).sort()).toEqual(['cluster.yaml', 'dist']);
});

test('a YAML syntax error is reported the same way and changes nothing', () => {
  const ws = workspace();
  writeFileSync(ws.config, 'kubernetes:\n  version: "1.35.1\n');
  const before = snapshotTree(ws.outdir);
  const result = synth(['--config', ws.config], { CDK8S_OUTDIR: ws.outdir });
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^[^\n]*cluster\.yaml:\d+:\d+: YAML syntax error: [^\n]+\n$/);
  expect(snapshotTree(ws.outdir)).toEqual(before);
});

test('CLUSTER_CONFIG selects another config and the output replaces dist/ whole', () => {
  const ws = workspace();
  writeFileSync(ws.config, stringify({
    kubernetes: { version: '1.36.5' },
    nodes: [{ name: 'solo', address: '10.0.0.10', role: 'control-plane' }],
    ingress: { exposure: 'nodePort' },
    tomcat6: { replicas: 1, nodePort: 30080 },
  }));
  writeFileSync(path.join(ws.outdir, 'stale.yaml'), 'kind: Stale\n');
  const result = synth([], { CLUSTER_CONFIG: ws.config, CDK8S_OUTDIR: ws.outdir });
  expect(result).toMatchObject({ code: 0, stderr: '' });
  expect(result.stdout).toMatch(/wrote .*dist\/ for 1 node\(s\), Kubernetes 1\.36\.5/);
  expect(readdirSync(ws.outdir).sort()).toEqual(['0000-flannel.yaml', '0001-traefik.yaml', '0002-tomcat6.yaml']);
  expect(readFileSync(path.join(ws.outdir, '0002-tomcat6.yaml'), 'utf8')).toContain('nodePort: 30080');
  expect(readFileSync(path.join(ws.outdir, '0001-traefik.yaml'), 'utf8')).toContain('kind: Deployment');
});

test('from another folder (npm runs the script in the repository), it says where dist/ went, from that folder', () => {
  const { outdir } = workspace();
  const from = path.join(ROOT, 'charts');
  const result = synth([], { INIT_CWD: from, CDK8S_OUTDIR: outdir });
  expect(result.code).toBe(0);
  expect(result.stdout).toBe(`wrote ${path.relative(from, outdir)}/ for 3 node(s), Kubernetes ${defaultConfig().kubernetes.version}\n`);
  expect(path.relative(from, outdir)).toMatch(/^\.\.\//);
});

test('--help prints usage; an unknown flag is one line, with the flag it resembles, and exit 1', () => {
  expect(synth(['--help'], {})).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: npm run synth') });
  const bad = synth(['--cofnig', 'x.yaml'], {});
  expect(bad.code).toBe(1);
  expect(bad.stderr).toBe("unknown option '--cofnig' (Did you mean --config?); see --help\n");
  expect(synth(['--config'], {})).toMatchObject({ code: 1, stderr: "option '--config <FILE>' argument missing; see --help\n" });
  expect(synth(['extra'], {})).toMatchObject({ code: 1, stderr: 'too many arguments. Expected 0 arguments but got 1; see --help\n' });
});

test('a failure in the middle of synthesis leaves the previous output as it was and no temp folders', () => {
  const ws = workspace();
  const before = snapshotTree(ws.outdir);
  // A config object that passed no validation: building the charts fails on it after the first chart is built.
  const broken = { ...defaultConfig(), ingress: undefined } as unknown as ClusterConfig;
  expect(() => synthesize(broken, ws.outdir)).toThrow(TypeError);
  expect(snapshotTree(ws.outdir)).toEqual(before);
  expect(readdirSync(ws.dir)).toEqual(['dist']);
  expect(existsSync(`${ws.outdir}.tmp`)).toBe(false);
});

test('an older Node.js than package.json\'s engines gets one line with the fix', () => {
  const { nodeVersionProblem } = require('../hosts/engine/node-version.cjs');
  expect(nodeVersionProblem('20.19.0', '>=20.19')).toBeUndefined();
  expect(nodeVersionProblem('22.1.0', '>=20.19')).toBeUndefined();
  expect(nodeVersionProblem('20.18.3', '>=20.19')).toBe('this needs Node.js 20.19 or newer (package.json: "node": ">=20.19"), and this is Node.js 20.18.3; install Node.js 20.19 or newer (https://nodejs.org, or your distribution\'s nodejs package where it is that new)');
  expect(nodeVersionProblem('18.20.4', '>=20.19')).toMatch(/^this needs Node\.js 20\.19 or newer/);
  // The entry points check it before loading anything else.
  for (const entry of ['main.ts', 'scripts/bootstrap.mjs', 'hosts/prep.mjs', 'hosts/init.mjs', 'hosts/join.mjs', 'hosts/reset.mjs']) {
    expect(readFileSync(path.join(ROOT, entry), 'utf8')).toContain("node-version.cjs').requireSupportedNode();");
  }
});

test('ingress-nginx still synthesizes, with one warning line on stderr that it is retired upstream; traefik gets none', () => {
  const ws = workspace();
  writeFileSync(ws.config, stringify({
    kubernetes: { version: '1.35.8' },
    nodes: [{ name: 'solo', address: '10.0.0.10', role: 'control-plane' }],
    ingress: { controller: 'ingress-nginx' },
  }));
  const result = synth([], { CLUSTER_CONFIG: ws.config, CDK8S_OUTDIR: ws.outdir });
  expect(result.code).toBe(0);
  expect(result.stderr).toBe('warning: ingress.controller: ingress-nginx is retired upstream and unmaintained (v1.15.1, March 2026, is its last release; no fixes, security fixes included); traefik is the maintained default\n');
  expect(readdirSync(ws.outdir).sort()).toEqual(['0000-flannel.yaml', '0001-ingress-nginx.yaml', '0002-tomcat6.yaml']);
  expect(synth([], { CDK8S_OUTDIR: ws.outdir }).stderr).toBe('');
});
