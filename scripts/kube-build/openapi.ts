/**
 * The Kubernetes API definitions `cdk8s import k8s@X.Y.Z` reads
 * (`_definitions.json`), made from the OpenAPI spec that k8s.io/kubernetes
 * carries at api/openapi-spec/swagger.json, so the import works offline for
 * any version the Go module proxy serves.
 *
 * The file is the spec's `definitions`, changed as the published schema
 * files are (compared in test/kube-build.test.ts with ../shared's):
 * - `kind` of a type with one kind in x-kubernetes-group-version-kind gets
 *   `enum: [<kind>]`;
 * - Quantity and IntOrString become `oneOf` string or number / integer,
 *   instead of the spec's `type: string` with a format.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { download } from './build';
import { versionDir } from './cache';

type Definition = {
  properties?: Record<string, Record<string, unknown>>;
  'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[];
  [key: string]: unknown;
};

const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';

export function definitionsFromSwagger(swagger: { definitions: Record<string, Definition> }): { definitions: Record<string, Definition> } {
  const definitions: Record<string, Definition> = {};
  for (const [name, definition] of Object.entries(swagger.definitions)) {
    const kinds = new Set((definition['x-kubernetes-group-version-kind'] ?? []).map((gvk) => gvk.kind));
    const kind = definition.properties?.kind;
    if (kind && kinds.size === 1) {
      definitions[name] = { ...definition, properties: { ...definition.properties, kind: { ...kind, enum: [...kinds] } } };
    } else if (name === QUANTITY) {
      definitions[name] = { oneOf: [{ type: 'string' }, { type: 'number' }] };
    } else if (name === INT_OR_STRING) {
      definitions[name] = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
    } else {
      definitions[name] = definition;
    }
  }
  return { definitions };
}

/** The folder holding `_definitions.json` of a version (what import:offline's K8S_SCHEMA_DIR names). */
export const definitionsDir = (version: string, env: NodeJS.ProcessEnv = process.env) => path.join(versionDir(version, env), 'openapi');

/** Writes `_definitions.json` of a version from its k8s.io/kubernetes module, unless there; returns its folder. */
export function ensureDefinitions(version: string): string {
  const dir = definitionsDir(version);
  const file = path.join(dir, '_definitions.json');
  if (!existsSync(file)) {
    const module = download('k8s.io/kubernetes', `v${version}`);
    const swagger = JSON.parse(readFileSync(path.join(module.Dir, 'api', 'openapi-spec', 'swagger.json'), 'utf8'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${file}.tmp`, `${JSON.stringify(definitionsFromSwagger(swagger))}\n`);
    renameSync(`${file}.tmp`, file);
  }
  return dir;
}
