/**
 * Every synthesized object against the Kubernetes API: kubernetes-models'
 * validation always, and a strict check (unknown fields rejected) against
 * the API definitions of every tested release of the supported window, as
 * npm run kube:build makes them from each release's OpenAPI spec. The
 * Gateway API's objects are checked the same strict way against the schemas
 * of the CRDs dist/ ships (kubernetes-models has no models for them).
 */
import { readFileSync } from 'node:fs';
import Ajv, { type ValidateFunction } from 'ajv';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { TESTED_RELEASES } from '../config/versions';
import { definitionsDir } from '../scripts/kube-build/openapi';
import { allObjects, configWith, defaultConfig, type K8sObject, withIngressNginx } from './helpers';
import { missingPrerequisite } from './prerequisites';

const configs = {
  default: defaultConfig,
  'nodePort exposure': () => configWith({ ingress: { exposure: 'nodePort' } }),
  'mirror and fixed nodePort': () => configWith({ images: { mirror: 'registry.example.com/k8s' }, tomcat6: { nodePort: 30080 } }),
  'Gateway API': () => configWith({ ingress: { api: 'gateway' } }),
  'Gateway API, nodePort exposure': () => configWith({ ingress: { api: 'gateway', exposure: 'nodePort' } }),  dashboard: () => configWith({ dashboard: { enabled: true } }),
  'Gateway API with the dashboard': () => configWith({ ingress: { api: 'gateway' }, dashboard: { enabled: true, access: 'admin' } }),
  'ingress-nginx with the dashboard': () => withIngressNginx({ dashboard: { enabled: true } }),
};

const GATEWAY_API = 'gateway.networking.k8s.io/';
/** The objects of a config other than those of a CRD it ships (kubernetes-models and the release's definitions know none of these). */
const builtIn = (objects: K8sObject[]) => objects.filter((o) => !o.apiVersion.startsWith(GATEWAY_API));

const label = (o: K8sObject) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`;

describe.each(Object.entries(configs))('kubernetes-models validation (%s)', (_name, makeConfig) => {
  const objects = builtIn(allObjects(makeConfig()));
  test.each(objects.map((o) => [label(o), o] as const))('%s', (_label, object) => {
    const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : [undefined, object.apiVersion];
    const models = require(`kubernetes-models/${group ? `${group}/` : ''}${version}`);
    const Model = models[object.kind];
    expect(Model).toBeDefined();
    expect(() => new Model(object).validate()).not.toThrow();
  });
});

interface Definitions {
  definitions: Record<string, Record<string, unknown> & { 'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[] }>;
}

/** `additionalProperties: false` on every object schema below this one that lists its properties. */
function strictObjects(schema: unknown): void {
  if (Array.isArray(schema)) return schema.forEach(strictObjects);
  if (!schema || typeof schema !== 'object') return;
  const node = schema as Record<string, unknown>;
  if (node.properties && !node.additionalProperties && !node['x-kubernetes-preserve-unknown-fields']) node.additionalProperties = false;
  for (const [key, value] of Object.entries(node)) if (key !== 'x-kubernetes-validations' && key !== 'default' && key !== 'example') strictObjects(value);
}

/**
 * Validators for the kinds of the CRDs among the objects (each served
 * version's openAPIV3Schema, made strict); `metadata` is left to the API
 * server, as the CRD schemas leave it.
 */
function crdValidators(objects: K8sObject[]): Map<string, ValidateFunction> {
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  const validators = new Map<string, ValidateFunction>();
  for (const crd of objects.filter((o) => o.kind === 'CustomResourceDefinition') as any[]) {
    for (const version of crd.spec.versions.filter((v: { served: boolean }) => v.served)) {
      const schema = structuredClone(version.schema.openAPIV3Schema);
      strictObjects(schema);
      schema.properties.metadata = { type: 'object' };
      validators.set(`${crd.spec.group}/${version.name} ${crd.spec.names.kind}`, ajv.compile(schema));
    }
  }
  return validators;
}

describe.each(Object.entries(configs).filter(([name]) => name.startsWith('Gateway API')))('strict Gateway API schema, from the CRDs dist/ ships (%s)', (_name, makeConfig) => {
  const objects = allObjects(makeConfig());
  const validators = crdValidators(objects);
  const custom = objects.filter((o) => o.apiVersion.startsWith(GATEWAY_API));

  test('the config makes a GatewayClass, a Gateway and an HTTPRoute', () => {
    const routes = makeConfig().dashboard.enabled ? ['HTTPRoute', 'HTTPRoute'] : ['HTTPRoute'];
    expect(custom.map((o) => o.kind).sort()).toEqual(['Gateway', 'GatewayClass', ...routes]);
  });

  test.each(custom.map((o) => [label(o), o] as const))('%s', (_label, object) => {
    const validate = validators.get(`${object.apiVersion} ${object.kind}`);
    expect(validate).toBeDefined();
    validate!(object);
    expect(validate!.errors ?? []).toEqual([]);
  });

  test('the strict check does catch an unknown field and a wrong type', () => {
    const route = structuredClone(custom.find((o) => o.kind === 'HTTPRoute')!) as any;
    route.spec.rules[0].backendRefs[0].serviceName = 'tomcat6';
    route.spec.rules[0].backendRefs[0].port = '80';
    const validate = validators.get(`${route.apiVersion} ${route.kind}`)!;
    expect(validate(route)).toBe(false);
    expect(validate.errors!.map((e) => `${e.instancePath} ${e.message}`)).toEqual(expect.arrayContaining([
      '/spec/rules/0/backendRefs/0 must NOT have additional properties',
      '/spec/rules/0/backendRefs/0/port must be integer',
    ]));
  });
});

/** A release's definitions with `additionalProperties: false` on every object that lists its properties. */
function strictValidators(file: string): (object: K8sObject) => ValidateFunction {
  const source = JSON.parse(readFileSync(file, 'utf8')) as Definitions;
  const byKind = new Map<string, string>();
  for (const [name, definition] of Object.entries(source.definitions)) {
    for (const gvk of definition['x-kubernetes-group-version-kind'] ?? []) {
      byKind.set(`${gvk.group ? `${gvk.group}/` : ''}${gvk.version} ${gvk.kind}`, name);
    }
    if (definition.properties && !definition.additionalProperties && !definition['x-kubernetes-preserve-unknown-fields']) {
      definition.additionalProperties = false;
    }
  }
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema({ $id: 'k8s', definitions: source.definitions });
  const cache = new Map<string, ValidateFunction>();
  return (object) => {
    const name = byKind.get(`${object.apiVersion} ${object.kind}`);
    if (!name) throw new Error(`no definition for ${object.apiVersion} ${object.kind}`);
    if (!cache.has(name)) cache.set(name, ajv.compile({ $ref: `k8s#/definitions/${name}` }));
    return cache.get(name)!;
  };
}

// Every minor of the supported window, with the definitions npm run kube:build makes from that release's OpenAPI spec.
for (const release of TESTED_RELEASES) {
  const file = path.join(definitionsDir(release), '_definitions.json');
  if (!existsSync(file)) {
    missingPrerequisite(`strict Kubernetes ${release} schema`, `needs the API definitions of v${release}: run npm run kube:build -- --tested`);
    continue;
  }
  describe(`strict Kubernetes ${release} schema (unknown fields rejected)`, () => {
    const validatorFor = strictValidators(file);

    describe.each(Object.entries(configs))('%s', (_name, makeConfig) => {
      const objects = builtIn(allObjects(makeConfig()));
      test.each(objects.map((o) => [label(o), o] as const))('%s', (_label, object) => {
        const validate = validatorFor(object);
        validate(object);
        expect(validate.errors ?? []).toEqual([]);
      });
    });

    test('the strict check does catch an unknown field and a wrong type', () => {
      const object = structuredClone(allObjects(defaultConfig()).find((o) => o.kind === 'Service')!) as any;
      object.spec.ports[0].serviceName = 'tomcat6';
      object.spec.ports[0].port = '80';
      const validate = validatorFor(object);
      expect(validate(object)).toBe(false);
      expect(validate.errors!.map((e) => `${e.instancePath} ${e.message}`)).toEqual(expect.arrayContaining([
        '/spec/ports/0 must NOT have additional properties',
        '/spec/ports/0/port must be integer',
      ]));
    });
  });
}
