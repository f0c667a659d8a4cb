/**
 * The project's layering, read from the imports of every source file:
 *
 *   config/                      imports nothing else of the project
 *   charts/                      config/ and imports/ (the generated API classes)
 *   hosts/engine/                config/
 *   hosts/os/                    hosts/engine/, config/
 *   hosts/node/                  hosts/os/, hosts/engine/, config/
 *   hosts/cluster/               hosts/node/, hosts/os/, hosts/engine/, charts/, config/
 *
 * and, everywhere: nothing imports an entry point, no import cycles, no two
 * source files in one folder with the same base name (prep.mjs and prep.ts).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { ROOT } from './helpers';

const SOURCE_DIRS = ['main.ts', 'charts', 'config', 'hosts', 'imports', 'scripts', 'test'];
const SOURCE = /\.(ts|mjs|cjs|js)$/;
const ENTRY_POINTS = ['main.ts', 'hosts/prep.mjs', 'hosts/init.mjs', 'hosts/join.mjs', 'hosts/reset.mjs', 'scripts/bootstrap.mjs'];

/** What each layer may import besides itself; a file outside every layer may import anything but an entry point. */
const LAYERS: Record<string, string[]> = {
  config: [],
  imports: [],
  charts: ['config', 'imports'],
  'hosts/engine': ['config'],
  'hosts/os': ['hosts/engine', 'config'],
  'hosts/node': ['hosts/os', 'hosts/engine', 'config'],
  'hosts/cluster': ['hosts/node', 'hosts/os', 'hosts/engine', 'charts', 'config'],
};

function walk(entry: string): string[] {
  const full = path.join(ROOT, entry);
  if (!statSync(full).isDirectory()) return SOURCE.test(entry) ? [entry] : [];
  return readdirSync(full).filter((name) => name !== '__snapshots__' && name !== 'node_modules').flatMap((name) => walk(path.posix.join(entry, name)));
}

function sourceFiles(root = ROOT): string[] {
  return SOURCE_DIRS.flatMap((entry) => walk(entry)).filter((file) => statSync(path.join(root, file)).isFile()).sort();
}

/** The project files a file imports (import, export from, require, dynamic import), as paths from the root. */
function importsOf(file: string, read: (file: string) => string = (f) => readFileSync(path.join(ROOT, f), 'utf8')): string[] {
  const { importedFiles } = ts.preProcessFile(read(file), true, true);
  const resolved: string[] = [];
  for (const { fileName } of importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), fileName));
    const found = ['', '.ts', '.mjs', '.cjs', '.js', '/index.ts'].map((ext) => base + ext).find((candidate) => {
      try {
        return statSync(path.join(ROOT, candidate)).isFile();
      } catch {
        return false;
      }
    });
    if (!found) throw new Error(`${file}: cannot resolve the import ${fileName}`);
    // Data (package.json, the JSON Schema) is no layer of code.
    if (SOURCE.test(found)) resolved.push(found);
  }
  return resolved;
}

function layerOf(file: string): string | undefined {
  return Object.keys(LAYERS).sort((a, b) => b.length - a.length).find((layer) => file.startsWith(`${layer}/`));
}

interface Violation {
  rule: string;
  detail: string;
}

/** Every broken rule in an import graph. */
function violations(graph: Map<string, string[]>): Violation[] {
  const found: Violation[] = [];
  for (const [file, imports] of graph) {
    const layer = layerOf(file);
    for (const imported of imports) {
      if (ENTRY_POINTS.includes(imported)) found.push({ rule: 'imports an entry point', detail: `${file} -> ${imported}` });
      const target = layerOf(imported);
      if (layer && target !== layer && !(target && LAYERS[layer].includes(target))) {
        found.push({ rule: 'imports against the layering', detail: `${file} (${layer}) -> ${imported} (${target ?? 'outside the layers'})` });
      }
    }
  }
  // Cycles: a depth-first search that reports each back edge with the path it closes.
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') found.push({ rule: 'import cycle', detail: [...stack.slice(stack.indexOf(next)), next].join(' -> ') });
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  // One base name per folder.
  const byBase = new Map<string, string[]>();
  for (const file of graph.keys()) {
    const key = path.posix.join(path.posix.dirname(file), path.posix.basename(file).replace(/\.[^.]+$/, '').replace(/\.(test|vmtest)$/, ''));
    byBase.set(key, [...(byBase.get(key) ?? []), file]);
  }
  for (const files of byBase.values()) if (files.length > 1) found.push({ rule: 'same base name in one folder', detail: files.join(', ') });
  return found;
}

const graph = new Map(sourceFiles().map((file) => [file, importsOf(file)]));

test('the layers import only downwards; no entry point is imported; no cycles; no two files share a base name', () => {
  expect(graph.size).toBeGreaterThan(50);
  expect(violations(graph)).toEqual([]);
});

test('the layers are all there, each with its files', () => {
  for (const layer of Object.keys(LAYERS)) expect([...graph.keys()].filter((f) => layerOf(f) === layer).length).toBeGreaterThan(0);
  for (const entry of ENTRY_POINTS) expect(graph.has(entry)).toBe(true);
});

describe('the check itself catches', () => {
  const withEdge = (from: string, to: string) => new Map([...graph].map(([file, imports]) => [file, file === from ? [...imports, to] : imports]));

  test('an upward import (the engine reaching into a node script)', () => {
    expect(violations(withEdge('hosts/engine/steps.ts', 'hosts/node/facts.ts'))).toContainEqual({
      rule: 'imports against the layering', detail: 'hosts/engine/steps.ts (hosts/engine) -> hosts/node/facts.ts (hosts/node)',
    });
  });

  test('a chart reaching into hosts/', () => {
    expect(violations(withEdge('charts/app.ts', 'hosts/engine/redact.ts')).map((v) => v.rule)).toContain('imports against the layering');
  });

  test('a cycle inside one layer', () => {
    const cycles = violations(withEdge('hosts/node/kubeadm.ts', 'hosts/node/facts.ts')).filter((v) => v.rule === 'import cycle').map((v) => v.detail);
    // The direct one, and any longer one through the added edge (facts.ts reaches kubeadm.ts by other paths too).
    expect(cycles).toContainEqual(expect.stringMatching(/^hosts\/node\/(facts|kubeadm)\.ts -> hosts\/node\/(facts|kubeadm)\.ts -> hosts\/node\/(facts|kubeadm)\.ts$/));
    for (const cycle of cycles) expect(cycle).toMatch(/hosts\/node\/kubeadm\.ts -> hosts\/node\/facts\.ts/);
  });

  test('an import of an entry point', () => {
    expect(violations(withEdge('hosts/cluster/cli.ts', 'scripts/bootstrap.mjs')).map((v) => v.rule)).toContain('imports an entry point');
  });

  test('a prep.ts beside prep.mjs', () => {
    expect(violations(new Map([...graph, ['hosts/prep.ts', []]])).map((v) => v.detail)).toContain('hosts/prep.mjs, hosts/prep.ts');
  });

  test('imports written every way: import, import type, export from, require', () => {
    const text = "import a from './a';\nimport type { B } from './b';\nexport { c } from './c';\nconst d = require('./d.ts');\nimport 'zx';\n";
    expect(ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName)).toEqual(['./a', './b', './c', './d.ts', 'zx']);
  });
});
