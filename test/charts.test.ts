/** Snapshots of every chart, with the default cluster.yaml and with variants. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { renderManifests, synthesize } from '../charts/app';
import { CONFIG_VARIANTS, configWith, defaultConfig, find, readYamlObjects, synthCharts, withIngressNginx } from './helpers';

describe.each(Object.entries(CONFIG_VARIANTS))('%s', (_name, makeConfig) => {
  const charts = synthCharts(makeConfig());
  test.each(Object.keys(charts))('%s chart', (chart) => {
    // The Gateway API's CRDs are upstream's files unchanged (1.2 MB, checked object for object in
    // fidelity.test.ts): their names stand for them here.
    expect(chart === 'gateway-api' ? charts[chart].map((o) => `${o.kind}/${o.metadata.name}`) : charts[chart]).toMatchSnapshot();
  });
});

describe('what the variants change', () => {
  const images = (config: ReturnType<typeof defaultConfig>) => {
    const found: string[] = [];
    JSON.stringify(Object.values(synthCharts(config)).flat(), (key, value) => {
      if (key === 'image') found.push(value as string);
      return value;
    });
    return found;
  };

  test('a mirror leaves dist/ exactly as it is: images keep their upstream names and digests (the nodes\' containerd does the mirroring)', () => {
    const plain = renderManifests(defaultConfig());
    expect(renderManifests(configWith({ images: { mirror: 'registry.example.com:5000/k8s', mirrors: { 'docker.io': 'http://10.0.0.5:5000' } } }))).toEqual(plain);
    expect(renderManifests(configWith({ images: { controlPlaneRepository: 'registry.cn-hangzhou.aliyuncs.com/google_containers' } }))).toEqual(plain);
    expect(images(defaultConfig())).toContain('ghcr.io/flannel-io/flannel:v0.28.9');
    expect(images(defaultConfig())).toContain('docker.io/traefik:v3.7.11');
    expect(images(withIngressNginx()).filter((image) => image.startsWith('registry.k8s.io/')).every((image) => /@sha256:[0-9a-f]{64}$/.test(image))).toBe(true);
  });

  test('pinDigests: false drops the digests', () => {
    const unpinned = images(withIngressNginx({ images: { mirror: 'mirror.example.com', pinDigests: false } }));
    expect(unpinned.some((image) => image.includes('@sha256:'))).toBe(false);
    expect(unpinned).toContain('registry.k8s.io/ingress-nginx/controller:v1.15.1');
  });

  test('ingress-nginx: hostNetwork runs the controller as a DaemonSet on the host network', () => {
    const objects = synthCharts(withIngressNginx())['ingress-nginx'];
    const controller = find(objects, 'DaemonSet', 'ingress-nginx-controller') as any;
    expect(controller.spec.template.spec.hostNetwork).toBe(true);
    expect(controller.spec.template.spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(find(objects, 'Service', 'ingress-nginx-controller').spec).toMatchObject({ type: 'ClusterIP' });
    expect(objects.some((o) => o.kind === 'Deployment')).toBe(false);
  });

  test('ingress-nginx: nodePort keeps the upstream Deployment behind a NodePort Service', () => {
    const objects = synthCharts(withIngressNginx({ ingress: { exposure: 'nodePort' } }))['ingress-nginx'];
    const controller = find(objects, 'Deployment', 'ingress-nginx-controller') as any;
    expect(controller.spec.template.spec.hostNetwork).toBeUndefined();
    expect(find(objects, 'Service', 'ingress-nginx-controller').spec).toMatchObject({ type: 'NodePort' });
    expect(objects.some((o) => o.kind === 'DaemonSet')).toBe(false);
  });

  test('traefik (the default): hostNetwork is a DaemonSet binding ports 80 and 443 on the host network, root with NET_BIND_SERVICE only', () => {
    const objects = synthCharts(defaultConfig()).traefik;
    const pod = (find(objects, 'DaemonSet', 'traefik') as any).spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.securityContext).toMatchObject({ runAsUser: 0, runAsNonRoot: false });
    expect(pod.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] }, readOnlyRootFilesystem: true });
    expect(pod.containers[0].args).toEqual(expect.arrayContaining(['--entryPoints.web.address=:80/tcp', '--entryPoints.websecure.address=:443/tcp', '--providers.kubernetesingress']));
    expect(pod.containers[0].args.some((a: string) => /kubernetescrd|kubernetesgateway/i.test(a))).toBe(false);
    expect(find(objects, 'Service', 'traefik').spec).toMatchObject({ type: 'ClusterIP' });
    expect((find(objects, 'IngressClass', 'traefik') as any).metadata.annotations).toEqual({ 'ingressclass.kubernetes.io/is-default-class': 'true' });
    expect((find(synthCharts(defaultConfig()).tomcat6, 'Ingress', 'tomcat6') as any).spec.ingressClassName).toBe('traefik');
  });

  test.each([['hostNetwork', 'ingress'], ['nodePort', 'ingress'], ['hostNetwork', 'gateway']] as const)('traefik (%s, %s): every route on web and websecure tries a request a pod cannot take again, on another pod, up to 3 attempts', (exposure, api) => {
    const objects = synthCharts(configWith({ ingress: { exposure, api } })).traefik;
    const controller = objects.find((o) => o.kind === (exposure === 'hostNetwork' ? 'DaemonSet' : 'Deployment')) as any;
    const pod = controller.spec.template.spec;
    const args: string[] = pod.containers[0].args;
    expect(args).toEqual(expect.arrayContaining(['--entryPoints.web.http.middlewares=retry@file', '--entryPoints.websecure.http.middlewares=retry@file', '--providers.file.directory=/etc/traefik/dynamic']));
    const configMap = find(objects, 'ConfigMap', 'traefik-file-provider') as any;
    expect(parse(configMap.data['config.yml'])).toEqual({ http: { middlewares: { retry: { retry: { attempts: 3, status: ['502'] } } } } });
    const volume = pod.volumes.find((v: any) => v.configMap?.name === 'traefik-file-provider');
    expect(pod.containers[0].volumeMounts).toContainEqual({ mountPath: '/etc/traefik/dynamic', name: volume.name });
  });

  test('traefik on the host network rolls out one node at a time and never surges: two pods cannot hold one host port', () => {
    const daemonSet = find(synthCharts(defaultConfig()).traefik, 'DaemonSet', 'traefik') as any;
    expect(daemonSet.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
  });

  test.each([['view'], ['admin']] as const)('the dashboard\'s login account is bound to the built-in %s role, and to no other', (access) => {
    const objects = synthCharts(configWith({ dashboard: { enabled: true, access } })).dashboard;
    const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding' && (o as any).subjects.some((s: any) => s.name === 'headlamp-login'));
    const roles = bindings.map((b: any) => b.roleRef.name).filter((name: string) => ['view', 'edit', 'admin', 'cluster-admin'].includes(name));
    expect(roles).toEqual([access]);
  });

  test('traefik: nodePort is the chart\'s Deployment, non-root on the pod network, behind a NodePort Service', () => {
    const objects = synthCharts(configWith({ ingress: { exposure: 'nodePort' } })).traefik;
    const pod = (find(objects, 'Deployment', 'traefik') as any).spec.template.spec;
    expect(pod.hostNetwork).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsUser: 65532, runAsNonRoot: true });
    expect(pod.containers[0].ports.map((p: any) => p.hostPort)).toEqual([undefined, undefined, undefined, undefined]);
    expect(find(objects, 'Service', 'traefik').spec).toMatchObject({ type: 'NodePort' });
    expect(objects.some((o) => o.kind === 'DaemonSet')).toBe(false);
  });

  test.each([
    ['the tutorial\'s values', { host: 'tomcat6.touch.air.mall.com', replicas: 3, image: 'tomcat:6.0.53-jre8' }],
    ['other values', { host: 'shop.example.org', replicas: 5, image: 'registry.example.com/apps/tomcat:6.0.53-jre8' }],
  ])('the tomcat6 host, replicas and image written to dist/ are the config\'s (%s)', (_name, tomcat6) => {
    const outdir = path.join(mkdtempSync(path.join(tmpdir(), 'dist-')), 'dist');
    synthesize(configWith({ tomcat6 }), outdir);
    const objects = readYamlObjects(path.join(outdir, '0002-tomcat6.yaml'));
    const deployment = find(objects, 'Deployment', 'tomcat6') as any;
    expect(deployment.spec.replicas).toBe(tomcat6.replicas);
    expect(deployment.spec.template.spec.containers.map((c: any) => c.image)).toEqual([tomcat6.image]);
    expect((find(objects, 'Ingress', 'tomcat6') as any).spec.rules.map((r: any) => r.host)).toEqual([tomcat6.host]);
  });

  test('the fixed nodePort lands on the tomcat6 Service port', () => {
    const service = find(synthCharts(configWith({ tomcat6: { nodePort: 30080 } })).tomcat6, 'Service', 'tomcat6') as any;
    expect(service.spec.ports).toEqual([{ name: 'http', nodePort: 30080, port: 80, targetPort: 8080 }]);
  });

  test('drains take at most one tomcat6 pod at a time (its PodDisruptionBudget selects its pods), and an evicted pod keeps serving for 10 s', () => {
    const objects = synthCharts(configWith({ tomcat6: { replicas: 3 } })).tomcat6;
    const budget = find(objects, 'PodDisruptionBudget', 'tomcat6') as any;
    const deployment = find(objects, 'Deployment', 'tomcat6') as any;
    expect(budget.apiVersion).toBe('policy/v1');
    expect(budget.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { app: 'tomcat6' } } });
    expect(deployment.spec.template.metadata.labels).toMatchObject(budget.spec.selector.matchLabels);
    expect(deployment.spec.template.spec.containers[0].lifecycle).toEqual({ preStop: { exec: { command: ['sleep', '10'] } } });
    // The sleep ends well inside the pod's grace period (30 s unless set).
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30).toBeGreaterThan(10);
  });

  test('flanneld uses the node address by default and a named interface when configured', () => {
    const args = (config: ReturnType<typeof defaultConfig>) =>
      (find(synthCharts(config).flannel, 'DaemonSet', 'kube-flannel-ds') as any).spec.template.spec.containers[0].args;
    expect(args(defaultConfig())).toContain('--iface=$(NODE_IP)');
    expect(args(configWith({ network: { flannelInterface: 'enp0s8' } }))).toContain('--iface=enp0s8');
  });
});
