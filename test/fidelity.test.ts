/**
 * The ported charts against the upstream manifests in ../shared/reference:
 * same objects, same order, same content, once the values the cluster config
 * controls are put back to upstream's.
 */
import * as path from 'node:path';
import { configWith, defaultConfig, describeWithShared, readYamlObjects, REFERENCE_DIR, synthCharts, type K8sObject } from './helpers';

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
    expectSameObjects(synthCharts(configWith({ ingress: { exposure: 'nodePort' } }))['ingress-nginx'], upstream());
  });

  test('exposure hostNetwork differs only in the controller workload kind, host network, DNS policy and Service type', () => {
    const ours = synthCharts(defaultConfig())['ingress-nginx'].map((object) => {
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
