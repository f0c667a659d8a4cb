/**
 * flannel v0.28.9: a port of the upstream Documentation/kube-flannel.yml,
 * object for object, in the same order and with the same names. What the
 * cluster config changes: the pod network (net-conf.json `Network`), the
 * interface flanneld uses between nodes, and whether image digests stay.
 */
import { Chart, type ChartProps } from 'cdk8s';
import type { Construct } from 'constructs';
import { ADDON_IMAGES, addonImage } from '../config/images';
import {
  IntOrString,
  KubeClusterRole,
  KubeClusterRoleBinding,
  KubeConfigMap,
  KubeDaemonSet,
  KubeNamespace,
  KubeServiceAccount,
  Quantity,
} from '../imports/k8s';

export const FLANNEL_NAMESPACE = 'kube-flannel';

/** The CNI config flannel installs on every node; unchanged from upstream. */
const CNI_CONF = `{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "flannel",
      "delegate": {
        "hairpinMode": true,
        "isDefaultGateway": true
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      }
    }
  ]
}
`;

export function netConf(podCidr: string): string {
  return `{
  "Network": "${podCidr}",
  "EnableNFTables": false,
  "Backend": {
    "Type": "vxlan"
  }
}
`;
}

/**
 * flanneld's interface flag. By default each node uses the interface that
 * holds its own configured address (the kubelet node-ip, which the pod sees
 * as status.hostIP): on VMs with a NAT and a host-only NIC, flannel's own
 * default (the NIC of the default route) is the NAT one and pods on different
 * nodes cannot reach each other.
 */
export function ifaceArg(flannelInterface: string | undefined): string {
  return flannelInterface ? `--iface=${flannelInterface}` : '--iface=$(NODE_IP)';
}

export interface FlannelChartProps extends ChartProps {
  /** The pod network: net-conf.json `Network`; kubeadm's podSubnet must be the same. */
  readonly podCidr: string;
  /**
   * The interface flanneld uses between nodes, on every node.
   * @default the interface holding the node's own address
   */
  readonly flannelInterface?: string;
  /**
   * Keep the images' sha256 digests.
   * @default true
   */
  readonly pinDigests?: boolean;
}

export class FlannelChart extends Chart {
  constructor(scope: Construct, id: string, props: FlannelChartProps) {
    super(scope, id, props);
    const image = (upstream: string) => addonImage(upstream, props.pinDigests ?? true);

    new KubeNamespace(this, 'namespace', {
      metadata: {
        name: FLANNEL_NAMESPACE,
        labels: { 'k8s-app': 'flannel', 'pod-security.kubernetes.io/enforce': 'privileged' },
      },
    });

    new KubeClusterRole(this, 'cluster-role', {
      metadata: { labels: { 'k8s-app': 'flannel' }, name: 'flannel' },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      ],
    });

    new KubeClusterRoleBinding(this, 'cluster-role-binding', {
      metadata: { labels: { 'k8s-app': 'flannel' }, name: 'flannel' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flannel' },
      subjects: [{ kind: 'ServiceAccount', name: 'flannel', namespace: FLANNEL_NAMESPACE }],
    });

    new KubeServiceAccount(this, 'service-account', {
      metadata: { labels: { 'k8s-app': 'flannel' }, name: 'flannel', namespace: FLANNEL_NAMESPACE },
    });

    new KubeConfigMap(this, 'config', {
      metadata: {
        name: 'kube-flannel-cfg',
        namespace: FLANNEL_NAMESPACE,
        labels: { tier: 'node', 'k8s-app': 'flannel', app: 'flannel' },
      },
      data: {
        'cni-conf.json': CNI_CONF,
        'net-conf.json': netConf(props.podCidr),
      },
    });

    new KubeDaemonSet(this, 'daemon-set', {
      metadata: {
        name: 'kube-flannel-ds',
        namespace: FLANNEL_NAMESPACE,
        labels: { tier: 'node', app: 'flannel', 'k8s-app': 'flannel' },
      },
      spec: {
        selector: { matchLabels: { app: 'flannel' } },
        template: {
          metadata: { labels: { tier: 'node', app: 'flannel' } },
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] },
                  ],
                },
              },
            },
            hostNetwork: true,
            priorityClassName: 'system-node-critical',
            tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }],
            serviceAccountName: 'flannel',
            initContainers: [
              {
                name: 'install-cni-plugin',
                image: image(ADDON_IMAGES.flannelCniPlugin),
                command: ['cp'],
                args: ['-f', '/flannel', '/opt/cni/bin/flannel'],
                volumeMounts: [{ name: 'cni-plugin', mountPath: '/opt/cni/bin' }],
              },
              {
                name: 'install-cni',
                image: image(ADDON_IMAGES.flannel),
                command: ['/opt/bin/install-conf'],
                args: ['/etc/kube-flannel/cni-conf.json', '/etc/cni/net.d/10-flannel.conflist'],
                volumeMounts: [
                  { name: 'cni', mountPath: '/etc/cni/net.d' },
                  { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
                ],
              },
            ],
            containers: [
              {
                name: 'kube-flannel',
                image: image(ADDON_IMAGES.flannel),
                command: ['/opt/bin/flanneld'],
                args: ['--ip-masq', '--kube-subnet-mgr', '--healthz-port=8081', ifaceArg(props.flannelInterface)],
                ports: [{ name: 'healthz', containerPort: 8081, protocol: 'TCP' }],
                livenessProbe: {
                  httpGet: { path: '/healthz', port: IntOrString.fromString('healthz') },
                  initialDelaySeconds: 10,
                  periodSeconds: 30,
                },
                readinessProbe: {
                  httpGet: { path: '/readyz', port: IntOrString.fromString('healthz') },
                  initialDelaySeconds: 5,
                  periodSeconds: 10,
                },
                resources: {
                  requests: { cpu: Quantity.fromString('100m'), memory: Quantity.fromString('50Mi') },
                },
                securityContext: {
                  privileged: false,
                  capabilities: { add: ['NET_ADMIN', 'NET_RAW'] },
                },
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'EVENT_QUEUE_DEPTH', value: '5000' },
                  { name: 'CONT_WHEN_CACHE_NOT_READY', value: 'false' },
                  // The node's own address, for --iface=$(NODE_IP).
                  { name: 'NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
                ],
                volumeMounts: [
                  { name: 'run', mountPath: '/run/flannel' },
                  { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
                  { name: 'xtables-lock', mountPath: '/run/xtables.lock' },
                ],
              },
            ],
            volumes: [
              { name: 'run', hostPath: { path: '/run/flannel' } },
              { name: 'cni-plugin', hostPath: { path: '/opt/cni/bin' } },
              { name: 'cni', hostPath: { path: '/etc/cni/net.d' } },
              { name: 'flannel-cfg', configMap: { name: 'kube-flannel-cfg' } },
              { name: 'xtables-lock', hostPath: { path: '/run/xtables.lock', type: 'FileOrCreate' } },
            ],
          },
        },
      },
    });
  }
}
