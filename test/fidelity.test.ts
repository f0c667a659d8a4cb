/**
 * The ported charts against the upstream manifests in ../shared/reference:
 * same objects, same order, same content, once the values the cluster config
 * controls are put back to upstream's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { GATEWAY_API_DIR, GATEWAY_API_MODULE, GATEWAY_API_VERSION, gatewayApiFiles } from '../charts/gateway-api';
import { TRAEFIK_METRICS_PORT, TRAEFIK_RETRY, traefikFileProviderContent } from '../charts/traefik';
import { HELM_VERSION, helmPath } from '../scripts/kube-build/helm';
import { missingPrerequisite } from './prerequisites';
import { configWith, defaultConfig, describeWithShared, readYamlObjects, REFERENCE_DIR, synthCharts, withIngressNginx, type K8sObject } from './helpers';

/** Drops nulls (upstream's `data: null`) so absent and null compare equal. */
function withoutNulls<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (_key, v) => (v === null ? undefined : v)));
}

const identity = (o: K8sObject) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function expectSameObjects(ours: K8sObject[], upstream: K8sObject[]): void {
  expect(ours.map(identity)).toEqual(upstream.map(identity));
  ours.forEach((object, i) => {
    expect({ object: identity(object), content: withoutNulls(object) })
      .toEqual({ object: identity(upstream[i]), content: withoutNulls(upstream[i]) });
  });
}

describeWithShared('flannel chart vs upstream kube-flannel.yml v0.28.9', REFERENCE_DIR, () => {
  const upstream = () => readYamlObjects(path.join(REFERENCE_DIR, 'kube-flannel.yml'));

  /** Removes what this project adds for multi-NIC nodes: the --iface flag and the NODE_IP it reads. */
  function normalise(objects: K8sObject[], podCidr: string): K8sObject[] {
    return objects.map((object) => {
      const copy = structuredClone(object) as any;
      if (copy.kind === 'ConfigMap') {
        const netConf = JSON.parse(copy.data['net-conf.json']);
        expect(netConf.Network).toBe(podCidr);
        copy.data['net-conf.json'] = copy.data['net-conf.json'].replace(`"Network": "${podCidr}"`, '"Network": "10.244.0.0/16"');
      }
      if (copy.kind === 'DaemonSet') {
        const flanneld = copy.spec.template.spec.containers[0];
        expect(flanneld.args.filter((a: string) => a.startsWith('--iface'))).toHaveLength(1);
        flanneld.args = flanneld.args.filter((a: string) => !a.startsWith('--iface'));
        flanneld.env = flanneld.env.filter((e: { name: string }) => e.name !== 'NODE_IP');
      }
      return copy;
    });
  }

  test('every object matches upstream with the default config', () => {
    expectSameObjects(normalise(synthCharts(defaultConfig()).flannel, '10.244.0.0/16'), upstream());
  });

  test('another pod CIDR changes only net-conf.json Network', () => {
    const podCidr = '172.20.0.0/16';
    expectSameObjects(normalise(synthCharts(configWith({ network: { podCidr } })).flannel, podCidr), upstream());
  });

  test('the ConfigMap text keeps upstream formatting byte for byte', () => {
    const ours = synthCharts(defaultConfig()).flannel.find((o) => o.kind === 'ConfigMap') as any;
    const theirs = upstream().find((o) => o.kind === 'ConfigMap') as any;
    expect(ours.data).toEqual(theirs.data);
  });
});

describeWithShared('ingress-nginx chart vs upstream baremetal deploy.yaml v1.15.1', REFERENCE_DIR, () => {
  const upstream = () => readYamlObjects(path.join(REFERENCE_DIR, 'ingress-nginx-baremetal.yaml'));

  test('exposure nodePort is upstream as is, object for object', () => {
    expectSameObjects(synthCharts(withIngressNginx({ ingress: { exposure: 'nodePort' } }))['ingress-nginx'], upstream());
  });

  test('exposure hostNetwork differs only in the controller workload kind, host network, DNS policy and Service type', () => {
    const ours = synthCharts(withIngressNginx())['ingress-nginx'].map((object) => {
      const copy = structuredClone(object) as any;
      if (copy.kind === 'DaemonSet') {
        const pod = copy.spec.template.spec;
        expect(pod.hostNetwork).toBe(true);
        expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
        delete pod.hostNetwork;
        pod.dnsPolicy = 'ClusterFirst';
        copy.kind = 'Deployment';
        copy.spec.strategy = copy.spec.updateStrategy;
        delete copy.spec.updateStrategy;
      }
      if (copy.kind === 'Service' && copy.metadata.name === 'ingress-nginx-controller') {
        expect(copy.spec.type).toBe('ClusterIP');
        copy.spec.type = 'NodePort';
      }
      return copy;
    });
    expectSameObjects(ours, upstream());
  });
});

/**
 * Traefik: the official Helm chart 41.3.0, rendered by a real helm (built by
 * npm run kube:build -- --tested) with the values that give the same shape
 * (Ingress provider only, the IngressClass, each exposure). What the port
 * changes on purpose is asserted, then put back, and the rest must match.
 */
const TRAEFIK_CHART = path.join(REFERENCE_DIR, 'traefik-helm-chart-41.3.0', 'traefik');
describeWithShared('traefik chart vs the official Helm chart 41.3.0 (helm template)', TRAEFIK_CHART, () => {
  const helm = helmPath();
  if (!existsSync(helm)) {
    missingPrerequisite('traefik chart fidelity', `needs helm v${HELM_VERSION} built from source: run npm run kube:build -- --tested`);
    return;
  }
  const ingress = {
    providers: { kubernetesCRD: { enabled: false }, kubernetesIngress: { enabled: true } },
    ingressClass: { enabled: true, isDefaultClass: true, name: 'traefik' },
  };
  // The Gateway provider, the chart's GatewayClass and Gateway; its listener on the web entry point, taking routes from `default`.
  const gateway = (port: number) => ({
    providers: { kubernetesCRD: { enabled: false }, kubernetesIngress: { enabled: false }, kubernetesGateway: { enabled: true } },
    ingressClass: { enabled: false },
    gatewayClass: { enabled: true },
    gateway: {
      enabled: true,
      listeners: { web: { port, protocol: 'HTTP', namespacePolicy: { from: 'Selector', selector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['default'] }] } } } },
    },
  });
  const exposures = {
    nodePort: { service: { spec: { type: 'NodePort' } } },
    hostNetwork: {
      deployment: { kind: 'DaemonSet', dnsPolicy: 'ClusterFirstWithHostNet' },
      hostNetwork: true,
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      ports: { web: { port: 80, hostPort: 80 }, websecure: { port: 443, hostPort: 443 } },
      service: { spec: { type: 'ClusterIP' } },
    },
  } as const;
  const webPort = { nodePort: 8000, hostNetwork: 80 } as const;
  type Exposure = keyof typeof exposures;
  type Api = 'ingress' | 'gateway';
  const work = mkdtempSync(path.join(tmpdir(), 'traefik-chart-'));

  function render(exposure: Exposure, kubeVersion: string, api: Api = 'ingress'): K8sObject[] {
    const values = path.join(work, `${exposure}-${api}.yaml`);
    // The metrics port through the chart's own value (ports.metrics.port): the port moves it off node-exporter's 9100.
    const base = exposures[exposure] as Record<string, any>;
    // The retry middleware through the chart's own values: its file provider, and each entry point's http.middlewares.
    const ports = { ...(base.ports ?? {}), metrics: { port: TRAEFIK_METRICS_PORT } };
    for (const entryPoint of ['web', 'websecure']) ports[entryPoint] = { ...(ports[entryPoint] ?? {}), http: { middlewares: [TRAEFIK_RETRY.ref] } };
    const file = { file: { enabled: true, content: traefikFileProviderContent() } };
    const chosen: Record<string, any> = api === 'gateway' ? gateway(webPort[exposure]) : ingress;
    writeFileSync(values, stringify({ ...base, ports, ...chosen, providers: { ...chosen.providers, ...file } }));
    const result = spawnSync(helm, ['template', 'traefik', TRAEFIK_CHART, '--namespace', 'traefik', '--kube-version', kubeVersion, '-f', values], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
    return parseAllDocuments(result.stdout).map((d) => d.toJS()).filter(Boolean);
  }

  /** Helm's bookkeeping labels, which this project (not a Helm release) leaves out. */
  function withoutHelmLabels(objects: K8sObject[]): K8sObject[] {
    const drop = (labels?: Record<string, string>) => {
      if (!labels) return;
      delete labels['helm.sh/chart'];
      delete labels['app.kubernetes.io/managed-by'];
    };
    return objects.map((object) => {
      const copy = structuredClone(object) as any;
      drop(copy.metadata.labels);
      drop(copy.spec?.template?.metadata?.labels);
      return copy;
    });
  }

  test.each([['nodePort', 'ingress'], ['hostNetwork', 'ingress'], ['nodePort', 'gateway'], ['hostNetwork', 'gateway']] as const)('exposure %s, api %s: the chart\'s objects, in its order, with its content', (exposure, api) => {
    const config = configWith({ ingress: { exposure, api } });
    const ours = synthCharts(config).traefik.map((o) => structuredClone(o) as any);
    // A Namespace object of its own (helm install --create-namespace makes it).
    expect(ours[0]).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'traefik' } });
    ours.shift();
    if (exposure === 'hostNetwork') {
      // Root with NET_BIND_SERVICE only: a non-root process of this image cannot bind 80/443 on the host's network.
      const pod = ours.find((o) => o.kind === 'DaemonSet').spec.template.spec;
      expect(pod.securityContext).toEqual({ runAsGroup: 0, runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.containers[0].securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
      pod.securityContext = { runAsGroup: 65532, runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } };
      pod.containers[0].securityContext.capabilities = { drop: ['ALL'] };
    }
    expectSameObjects(ours, withoutHelmLabels(render(exposure, config.kubernetes.version, api)));
  });

  test('the comparison can fail: a changed probe is caught', () => {
    const ours = synthCharts(configWith({ ingress: { exposure: 'nodePort' } })).traefik.slice(1).map((o) => structuredClone(o) as any);
    ours.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].readinessProbe.failureThreshold = 3;
    expect(() => expectSameObjects(ours, withoutHelmLabels(render('nodePort', defaultConfig().kubernetes.version)))).toThrow();
  });
});

/**
 * The Gateway API's standard channel: dist/'s gateway-api stage is upstream's
 * v1.6.1 files (../shared/reference), object for object and in their order;
 * and the copy in imports/ is what the Go module proxy serves for that
 * version, byte for byte (the source `npm run import:gateway-api` fetches).
 */
const GATEWAY_API_REFERENCE = path.join(REFERENCE_DIR, `gateway-api-${GATEWAY_API_VERSION}`);
describeWithShared(`gateway-api chart vs upstream Gateway API ${GATEWAY_API_VERSION} (standard channel)`, GATEWAY_API_REFERENCE, () => {
  const upstream = () => gatewayApiFiles(GATEWAY_API_REFERENCE).flatMap(readYamlObjects);
  const ours = () => synthCharts(configWith({ ingress: { api: 'gateway' } }))['gateway-api'];

  test('every CRD and the safe-upgrades admission policy, in upstream\'s order, with upstream\'s content', () => {
    const objects = upstream();
    expect(objects.map((o) => o.kind)).toEqual([...Array(10).fill('CustomResourceDefinition'), 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    expect(objects.every((o) => (o.metadata as any).annotations['gateway.networking.k8s.io/bundle-version'] === GATEWAY_API_VERSION)).toBe(true);
    expectSameObjects(ours(), objects);
  });

  test('the comparison can fail: a changed CRD field is caught', () => {
    const changed = ours().map((o) => structuredClone(o) as any);
    changed.find((o) => o.metadata.name === 'httproutes.gateway.networking.k8s.io').spec.versions[0].served = false;
    expect(() => expectSameObjects(changed, upstream())).toThrow();
  });

  test('the ingress API leaves the Gateway API out', () => {
    expect(synthCharts(defaultConfig())['gateway-api']).toBeUndefined();
  });
});

describe(`imports/gateway-api-${GATEWAY_API_VERSION}: ${GATEWAY_API_MODULE} from the Go module proxy, byte for byte`, () => {
  const go = spawnSync('go', ['mod', 'download', '-json', `${GATEWAY_API_MODULE}@${GATEWAY_API_VERSION}`], { encoding: 'utf8', cwd: tmpdir() });
  if (go.error || go.status !== 0) {
    missingPrerequisite('Gateway API module check', `needs go and the Go module proxy (${go.error?.message ?? go.stderr.trim()})`);
    return;
  }
  const source = path.join(JSON.parse(go.stdout).Dir, 'config', 'crd', 'standard');
  test('the same files, with the same bytes', () => {
    expect(readdirSync(GATEWAY_API_DIR).sort()).toEqual(readdirSync(source).sort());
    for (const file of readdirSync(source)) {
      expect({ file, same: readFileSync(path.join(GATEWAY_API_DIR, file)).equals(readFileSync(path.join(source, file))) }).toEqual({ file, same: true });
    }
  });
});

/**
 * Headlamp: the official Helm chart 0.45.0 (../shared/reference), rendered by
 * the real helm with the in-cluster install's values (no empty OIDC Secret).
 * What the port changes on purpose is asserted, then put back, and the rest
 * must match.
 */
const HEADLAMP_CHART = path.join(REFERENCE_DIR, 'headlamp-v0.45.0', 'charts', 'headlamp');
describeWithShared('dashboard chart vs the official Headlamp Helm chart 0.45.0 (helm template)', HEADLAMP_CHART, () => {
  const helm = helmPath();
  if (!existsSync(helm)) {
    missingPrerequisite('Headlamp chart fidelity', `needs helm v${HELM_VERSION} built from source: run npm run kube:build -- --tested`);
    return;
  }
  function render(kubeVersion: string): K8sObject[] {
    const result = spawnSync(helm, ['template', 'headlamp', HEADLAMP_CHART, '--namespace', 'headlamp', '--kube-version', kubeVersion, '--set', 'config.oidc.secret.create=false'], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
    return parseAllDocuments(result.stdout).map((d) => d.toJS()).filter(Boolean).map((object) => {
      const copy = structuredClone(object);
      delete copy.metadata.labels?.['helm.sh/chart'];
      delete copy.metadata.labels?.['app.kubernetes.io/managed-by'];
      return copy;
    });
  }

  /** Ours, with what the port adds taken out (each asserted first): the Namespace, the login account and its roles, the route. */
  function chartPart(config: ReturnType<typeof defaultConfig>, access: 'view' | 'admin'): K8sObject[] {
    const ours = synthCharts(config).dashboard.map((o) => structuredClone(o) as any);
    expect(ours[0]).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'headlamp' } });
    const added = ours.slice(4);
    expect(added.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/headlamp-login', `ClusterRoleBinding/headlamp-login-${access}`, 'ClusterRole/headlamp-login-cluster-view', 'ClusterRoleBinding/headlamp-login-cluster-view',
      config.ingress.api === 'gateway' ? 'HTTPRoute/headlamp' : 'Ingress/headlamp',
    ]);
    // The login account's tokens get the built-in role of `access`; Headlamp's own account gets nothing.
    expect(added[1].roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: access });
    expect(added[1].subjects).toEqual([{ kind: 'ServiceAccount', name: 'headlamp-login', namespace: 'headlamp' }]);
    expect(added[2].rules.every((r: any) => r.verbs.join() === 'get,list,watch')).toBe(true);
    return ours.slice(1, 4);
  }

  test.each([['ingress', 'view'], ['gateway', 'admin']] as const)('api %s, access %s: the chart\'s objects, in its order, with its content, but its cluster-admin binding', (api, access) => {
    const config = configWith({ ingress: { api }, dashboard: { enabled: true, access } });
    const upstream = render(config.kubernetes.version);
    // The chart binds Headlamp's own ServiceAccount to cluster-admin; the port does not (see charts/headlamp.ts).
    const binding = upstream.find((o) => o.kind === 'ClusterRoleBinding') as any;
    expect({ name: binding.metadata.name, role: binding.roleRef.name }).toEqual({ name: 'headlamp-admin', role: 'cluster-admin' });
    expectSameObjects(chartPart(config, access), upstream.filter((o) => o !== binding));
  });

  test('the comparison can fail: a changed argument is caught', () => {
    const config = configWith({ dashboard: { enabled: true } });
    const ours = chartPart(config, 'view');
    (ours[2] as any).spec.template.spec.containers[0].args.push('-unsafe-use-service-account-token');
    expect(() => expectSameObjects(ours, render(config.kubernetes.version).filter((o) => o.kind !== 'ClusterRoleBinding'))).toThrow();
  });
});
