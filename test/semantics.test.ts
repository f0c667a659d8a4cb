/**
 * Cross-object wiring that no schema checks: selectors that select, backends
 * that exist, references that resolve, and an apply order that works.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { stageFile, stagesOf, synthesize } from '../charts/app';
import { ingressController } from '../charts/ingress-controller';
import { dashboardHost } from '../config/schema';
import { ingressHostPorts } from '../hosts/node/ports';
import { allObjects, configWith, defaultConfig, readYamlObjects, type K8sObject } from './helpers';

const configs = {
  default: defaultConfig,
  'nodePort exposure': () => configWith({ ingress: { exposure: 'nodePort' } }),
  'another pod CIDR and a fixed nodePort': () => configWith({ network: { podCidr: '172.20.0.0/16' }, tomcat6: { nodePort: 30080 } }),
  'ingress-nginx': () => configWith({ kubernetes: { version: '1.35.8' }, ingress: { controller: 'ingress-nginx' } }),
  'ingress-nginx, nodePort exposure': () => configWith({ kubernetes: { version: '1.35.8' }, ingress: { controller: 'ingress-nginx', exposure: 'nodePort' } }),
  'Gateway API': () => configWith({ ingress: { api: 'gateway' } }),
  'Gateway API, nodePort exposure': () => configWith({ ingress: { api: 'gateway', exposure: 'nodePort' } }),  dashboard: () => configWith({ dashboard: { enabled: true } }),
  'Gateway API with the dashboard': () => configWith({ ingress: { api: 'gateway' }, dashboard: { enabled: true, access: 'admin' } }),
};

const WORKLOADS = ['Deployment', 'DaemonSet', 'Job'];
const BUILT_IN_NAMESPACES = ['default', 'kube-system'];
const namespaceOf = (o: K8sObject) => o.metadata.namespace ?? 'default';
const podTemplates = (objects: K8sObject[]) =>
  objects.filter((o) => WORKLOADS.includes(o.kind)).map((o) => ({ owner: o, template: (o as any).spec.template }));
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

describe.each(Object.entries(configs))('%s', (_name, makeConfig) => {
  const config = makeConfig();
  const objects = allObjects(config);
  const services = objects.filter((o) => o.kind === 'Service') as any[];
  // The hosts routed through the ingress controller: tomcat6's, and the dashboard's when it is on.
  const hosts = [config.tomcat6.host, ...(config.dashboard.enabled ? [dashboardHost(config)] : [])];

  test.each(services.map((s) => [s.metadata.name, s]))('Service %s selects the pods of a workload, on ports they declare', (_n, service) => {
    const selected = podTemplates(objects)
      .filter(({ owner, template }) => namespaceOf(owner) === namespaceOf(service) && matches(service.spec.selector, template.metadata.labels));
    expect(selected.map(({ owner }) => owner.kind)).toEqual([expect.stringMatching(/Deployment|DaemonSet/)]);
    const containerPorts = selected[0].template.spec.containers.flatMap((c: any) => c.ports ?? []);
    for (const port of service.spec.ports) {
      const target = port.targetPort ?? port.port;
      const declared = containerPorts.some((p: any) => (typeof target === 'number' ? p.containerPort === target : p.name === target));
      expect({ port: port.name, declared }).toEqual({ port: port.name, declared: true });
    }
  });

  test('every workload selector matches its own pod template labels', () => {
    for (const { owner, template } of podTemplates(objects)) {
      const selector = (owner as any).spec.selector?.matchLabels;
      if (owner.kind !== 'Job') expect(matches(selector, template.metadata.labels)).toBe(true);
    }
  });

  test('the Ingress backend names an existing Service port, and its class names the IngressClass', () => {
    const ingresses = objects.filter((o) => o.kind === 'Ingress') as any[];
    const classes = objects.filter((o) => o.kind === 'IngressClass').map((o) => o.metadata.name);
    expect(ingresses.map((i) => i.spec.rules[0].host)).toEqual(config.ingress.api === 'ingress' ? hosts : []);
    for (const ingress of ingresses) {
      expect(classes).toContain(ingress.spec.ingressClassName);
      const rule = ingress.spec.rules[0];
      const backend = rule.http.paths[0].backend.service;
      const service = services.find((s) => s.metadata.name === backend.name && namespaceOf(s) === namespaceOf(ingress));
      expect(service).toBeDefined();
      expect(service.spec.ports.map((p: any) => p.port)).toContain(backend.port.number);
    }
  });

  test('the HTTPRoute attaches to a listener of the Gateway, which Traefik serves on its web entry point and which takes routes from the route\'s namespace', () => {
    const routes = objects.filter((o) => o.kind === 'HTTPRoute') as any[];
    expect(routes.map((r) => r.spec.hostnames)).toEqual(config.ingress.api === 'gateway' ? hosts.map((h) => [h]) : []);
    for (const route of routes) {
      const [parent] = route.spec.parentRefs;
      const gateway = objects.find((o) => o.kind === 'Gateway' && o.metadata.name === parent.name && namespaceOf(o) === parent.namespace) as any;
      expect(gateway).toBeDefined();
      const listener = gateway.spec.listeners.find((l: any) => l.name === parent.sectionName);
      expect(listener).toMatchObject({ protocol: 'HTTP' });
      // The route's namespace is among those the listener takes routes from.
      const namespaces = listener.allowedRoutes.namespaces;
      expect(namespaces.from).toBe('Selector');
      expect(namespaces.selector.matchExpressions).toEqual([{ key: 'kubernetes.io/metadata.name', operator: 'In', values: expect.arrayContaining([namespaceOf(route)]) }]);
      // The GatewayClass is Traefik's, and the listener's port is the port of Traefik's web entry point.
      const gatewayClass = objects.find((o) => o.kind === 'GatewayClass' && o.metadata.name === gateway.spec.gatewayClassName) as any;
      expect(gatewayClass.spec.controllerName).toBe('traefik.io/gateway-controller');
      const traefik = podTemplates(objects).find(({ owner }) => owner.metadata.name === 'traefik')!.template.spec.containers[0];
      expect(traefik.args).toContain(`--entryPoints.web.address=:${listener.port}/tcp`);
      expect(traefik.args).toContain('--providers.kubernetesgateway');
      expect(traefik.args.filter((a: string) => a.startsWith('--providers.kubernetesingress'))).toEqual([]);
      // The backend is a port of an existing Service.
      const backend = route.spec.rules[0].backendRefs[0];
      const service = services.find((s) => s.metadata.name === backend.name && namespaceOf(s) === namespaceOf(route));
      expect(service.spec.ports.map((p: any) => p.port)).toContain(backend.port);
    }
  });

  test('flannel Network equals the configured pod CIDR', () => {
    const flannelConfig = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'kube-flannel-cfg') as any;
    expect(JSON.parse(flannelConfig.data['net-conf.json']).Network).toBe(config.network.podCidr);
  });

  test('service accounts, roles, config maps and the webhook service that objects name all exist', () => {
    const exists = (kind: string, name: string, namespace?: string) =>
      objects.some((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || namespaceOf(o) === namespace));
    for (const { owner, template } of podTemplates(objects)) {
      const account = template.spec.serviceAccountName;
      if (account) expect({ owner: owner.metadata.name, account, exists: exists('ServiceAccount', account, namespaceOf(owner)) }).toMatchObject({ exists: true });
      for (const volume of template.spec.volumes ?? []) {
        if (volume.configMap) expect(exists('ConfigMap', volume.configMap.name, namespaceOf(owner))).toBe(true);
      }
    }
    for (const binding of objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') as any[]) {
      // The dashboard's login account is bound to a built-in role (view or admin), which every cluster has.
      expect(exists(binding.roleRef.kind, binding.roleRef.name) || ['view', 'admin'].includes(binding.roleRef.name)).toBe(true);
      for (const subject of binding.subjects) expect(exists('ServiceAccount', subject.name, subject.namespace)).toBe(true);
    }
    for (const binding of objects.filter((o) => o.kind === 'ValidatingAdmissionPolicyBinding') as any[]) {
      expect(exists('ValidatingAdmissionPolicy', binding.spec.policyName)).toBe(true);
    }
    for (const configuration of objects.filter((o) => o.kind === 'ValidatingWebhookConfiguration') as any[]) {
      const webhook = configuration.webhooks[0].clientConfig.service;
      expect(exists('Service', webhook.name, webhook.namespace)).toBe(true);
    }
  });

  test('on the host network, the ingress controller binds exactly the ports the preflight checks and the firewall knows of', () => {
    const hostNetworkPods = podTemplates(objects).filter(({ template }) => template.spec.hostNetwork);
    if (config.ingress.exposure !== 'hostNetwork') {
      expect(hostNetworkPods.map(({ owner }) => owner.metadata.name)).toEqual(['kube-flannel-ds']);
      return;
    }
    const controller = hostNetworkPods.filter(({ owner }) => owner.metadata.name !== 'kube-flannel-ds');
    expect(controller).toHaveLength(1);
    const ports = controller[0].template.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.containerPort));
    expect([...ports].sort((a, b) => a - b)).toEqual([...ingressHostPorts(config.ingress.controller)].sort((a, b) => a - b));
  });

  test('dist/ files in name order are the stages, and create every Namespace before the objects in it', () => {
    const outdir = path.join(mkdtempSync(path.join(tmpdir(), 'dist-')), 'dist');
    synthesize(config, outdir);
    const files = readdirSync(outdir).sort();
    expect(files).toEqual(stagesOf(config).map((stage) => stageFile(config, stage)));
    expect(files[1]).toBe(config.ingress.api === 'gateway' ? '0001-gateway-api.yaml' : `0001-${config.ingress.controller}.yaml`);
    const created = new Set(BUILT_IN_NAMESPACES);
    for (const file of files) {
      for (const object of readYamlObjects(path.join(outdir, file))) {
        if (object.kind === 'Namespace') created.add(object.metadata.name);
        else if (object.metadata.namespace) expect({ object: `${object.kind}/${object.metadata.name}`, namespaceCreated: created.has(object.metadata.namespace) }).toMatchObject({ namespaceCreated: true });
      }
    }
    // The routes (the Ingresses the admission webhook validates, or the HTTPRoutes) come after the controller, each in its app's stage.
    const route = config.ingress.api === 'gateway' ? 'HTTPRoute' : 'Ingress';
    const controllerFile = files.indexOf(stageFile(config, ingressController(config).stage));
    expect(files.slice(0, controllerFile + 1).flatMap((f) => readYamlObjects(path.join(outdir, f))).some((o) => o.kind === route)).toBe(false);
    expect(files.slice(controllerFile + 1).map((f) => readYamlObjects(path.join(outdir, f)).filter((o) => o.kind === route).length)).toEqual(files.slice(controllerFile + 1).map(() => 1));
    // The Gateway API's kinds only after the stage that defines them (kubectl maps every kind of a file before applying it).
    const defined = new Set<string>();
    for (const file of files) {
      const objectsOfFile = readYamlObjects(path.join(outdir, file));
      for (const object of objectsOfFile) {
        if (object.apiVersion.startsWith('gateway.networking.k8s.io/')) expect({ object: `${object.kind}/${object.metadata.name}`, file, definedEarlier: defined.has(object.kind) }).toMatchObject({ definedEarlier: true });
      }
      for (const object of objectsOfFile as any[]) if (object.kind === 'CustomResourceDefinition') defined.add(object.spec.names.kind);
    }
  });
});
