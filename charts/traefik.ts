/**
 * Traefik v3.7 as the ingress controller: a port of what the official Helm
 * chart 41.3.0 renders (`helm template traefik traefik/traefik --namespace
 * traefik`) with the Kubernetes Ingress provider only, object for object,
 * in the chart's order and with its names.
 *
 * `ingress.exposure` picks how traffic reaches it, as for ingress-nginx:
 * - nodePort: the chart's Deployment behind a NodePort Service.
 * - hostNetwork: a DaemonSet on the host network (the chart's
 *   `deployment.kind: DaemonSet`, `hostNetwork: true`), its web and websecure
 *   entry points on ports 80 and 443 of every worker; the Service is ClusterIP.
 *
 * What differs from the chart, deliberately (the fidelity test lists each):
 * - a Namespace object (Helm creates it with --create-namespace);
 * - no Helm bookkeeping labels (helm.sh/chart, app.kubernetes.io/managed-by);
 * - hostNetwork only: the pod runs as root with NET_BIND_SERVICE alone, since
 *   a non-root process of this image cannot bind ports below 1024 on the
 *   host's network (the binary has no file capability, and the unprivileged
 *   port sysctl applies to a pod's own network namespace only).
 */
import { Chart, type ChartProps } from 'cdk8s';
import type { Construct } from 'constructs';
import { ADDON_IMAGES } from '../config/images';
import {
  KubeClusterRole,
  KubeClusterRoleBinding,
  KubeDaemonSet,
  KubeDeployment,
  KubeIngressClass,
  KubeNamespace,
  KubeService,
  KubeServiceAccount,
  IntOrString,
  type PodTemplateSpec,
  type PolicyRule,
} from '../imports/k8s';

export const TRAEFIK_NAMESPACE = 'traefik';
export const TRAEFIK_NAME = 'traefik';
export const TRAEFIK_INGRESS_CLASS = 'traefik';

const NS = TRAEFIK_NAMESPACE;
const selector = { 'app.kubernetes.io/name': 'traefik', 'app.kubernetes.io/instance': 'traefik-traefik' };
const labels = selector;
const watch = ['get', 'list', 'watch'];
const rule = (apiGroups: string[], resources: string[], verbs: string[]): PolicyRule => ({ apiGroups, resources, verbs });

export interface TraefikChartProps extends ChartProps {
  /**
   * How traffic reaches the controller: `hostNetwork`, a DaemonSet serving
   * ports 80 and 443 on every worker, or `nodePort`, the chart's Deployment
   * behind a NodePort Service.
   * @default 'hostNetwork'
   */
  readonly exposure?: 'hostNetwork' | 'nodePort';
}

export class TraefikChart extends Chart {
  private readonly hostNetwork: boolean;

  constructor(scope: Construct, id: string, props: TraefikChartProps = {}) {
    super(scope, id, props);
    this.hostNetwork = (props.exposure ?? 'hostNetwork') === 'hostNetwork';
    this.traefikNamespace();
    // The chart's objects, in the order helm template writes them.
    this.serviceAccount();
    this.clusterRole();
    this.clusterRoleBinding();
    this.service();
    this.controller();
    this.ingressClass();
  }

  /** The namespace everything else lives in (the chart expects it to exist). */
  private traefikNamespace(): void {
    new KubeNamespace(this, 'namespace', { metadata: { name: NS } });
  }

  private serviceAccount(): void {
    new KubeServiceAccount(this, 'service-account', {
      automountServiceAccountToken: false,
      metadata: { name: TRAEFIK_NAME, namespace: NS, labels },
    });
  }

  /** What the Ingress provider reads and writes, cluster-wide. */
  private clusterRole(): void {
    new KubeClusterRole(this, 'cluster-role', {
      metadata: { name: 'traefik-traefik', labels },
      rules: [
        rule([''], ['configmaps', 'nodes', 'services'], watch),
        rule(['discovery.k8s.io'], ['endpointslices'], ['list', 'watch']),
        rule([''], ['pods'], ['get']),
        rule([''], ['secrets'], watch),
        rule(['extensions', 'networking.k8s.io'], ['ingressclasses', 'ingresses'], watch),
        rule(['extensions', 'networking.k8s.io'], ['ingresses/status'], ['update']),
        rule([''], ['namespaces'], ['list', 'watch']),
      ],
    });
  }

  private clusterRoleBinding(): void {
    new KubeClusterRoleBinding(this, 'cluster-role-binding', {
      metadata: { name: 'traefik-traefik', labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'traefik-traefik' },
      subjects: [{ kind: 'ServiceAccount', name: TRAEFIK_NAME, namespace: NS }],
    });
  }

  /** web (80) and websecure (443); a NodePort Service with nodePort exposure, ClusterIP on the host network. */
  private service(): void {
    new KubeService(this, 'service', {
      metadata: { name: TRAEFIK_NAME, namespace: NS, labels },
      spec: {
        type: this.hostNetwork ? 'ClusterIP' : 'NodePort',
        selector,
        ports: [
          { port: 80, name: 'web', targetPort: IntOrString.fromString('web'), protocol: 'TCP' },
          { port: 443, name: 'websecure', targetPort: IntOrString.fromString('websecure'), protocol: 'TCP' },
        ],
      },
    });
  }

  private podTemplate(): PodTemplateSpec {
    const web = this.hostNetwork ? 80 : 8000;
    const websecure = this.hostNetwork ? 443 : 8443;
    const hostPort = (port: number) => (this.hostNetwork ? { hostPort: port } : {});
    const ping = { httpGet: { path: '/ping', port: IntOrString.fromNumber(8080), scheme: 'HTTP' }, initialDelaySeconds: 2, periodSeconds: 10, successThreshold: 1, timeoutSeconds: 2 };
    return {
      metadata: {
        annotations: { 'prometheus.io/path': '/metrics', 'prometheus.io/port': '9100', 'prometheus.io/scrape': 'true' },
        labels: selector,
      },
      spec: {
        automountServiceAccountToken: true,
        containers: [{
          args: [
            '--entryPoints.metrics.address=:9100/tcp',
            '--entryPoints.traefik.address=:8080/tcp',
            `--entryPoints.web.address=:${web}/tcp`,
            `--entryPoints.websecure.address=:${websecure}/tcp`,
            '--api.dashboard=true',
            '--ping=true',
            '--metrics.prometheus=true',
            '--metrics.prometheus.entrypoint=metrics',
            '--providers.kubernetesingress',
            '--providers.kubernetesingress.allowEmptyServices=true',
            `--providers.kubernetesingress.ingressendpoint.publishedservice=${NS}/${TRAEFIK_NAME}`,
            '--entryPoints.websecure.http.tls=true',
            '--log.level=INFO',
          ],
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'USER', value: 'traefik' },
          ],
          image: ADDON_IMAGES.traefik,
          imagePullPolicy: 'IfNotPresent',
          livenessProbe: { failureThreshold: 3, ...ping },
          name: 'traefik',
          ports: [
            { containerPort: 9100, name: 'metrics', protocol: 'TCP' },
            { containerPort: 8080, name: 'traefik', protocol: 'TCP' },
            { containerPort: web, ...hostPort(web), name: 'web', protocol: 'TCP' },
            { containerPort: websecure, ...hostPort(websecure), name: 'websecure', protocol: 'TCP' },
          ],
          readinessProbe: { failureThreshold: 1, ...ping },
          securityContext: {
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'], ...(this.hostNetwork ? { add: ['NET_BIND_SERVICE'] } : {}) },
            readOnlyRootFilesystem: true,
          },
          volumeMounts: [{ mountPath: '/data', name: 'data' }, { mountPath: '/tmp', name: 'tmp' }],
        }],
        ...(this.hostNetwork ? { dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
        hostNetwork: this.hostNetwork,
        securityContext: this.hostNetwork
          ? { runAsGroup: 0, runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } }
          : { runAsGroup: 65532, runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
        serviceAccountName: TRAEFIK_NAME,
        terminationGracePeriodSeconds: 60,
        volumes: [{ emptyDir: {}, name: 'data' }, { emptyDir: {}, name: 'tmp' }],
      },
    };
  }

  /** The controller: a DaemonSet on the host network, or the chart's Deployment. */
  private controller(): void {
    const metadata = { name: TRAEFIK_NAME, namespace: NS, labels };
    if (this.hostNetwork) {
      new KubeDaemonSet(this, 'controller', {
        metadata,
        spec: {
          selector: { matchLabels: selector },
          // A DaemonSet on the host network cannot surge: the new pod would need the ports the old one holds.
          updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: IntOrString.fromNumber(1), maxSurge: IntOrString.fromNumber(0) } },
          minReadySeconds: 0,
          template: this.podTemplate(),
        },
      });
    } else {
      new KubeDeployment(this, 'controller', {
        metadata,
        spec: {
          replicas: 1,
          selector: { matchLabels: selector },
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: IntOrString.fromNumber(0), maxSurge: IntOrString.fromNumber(1) } },
          minReadySeconds: 0,
          template: this.podTemplate(),
        },
      });
    }
  }

  /** IngressClass traefik, the cluster's default class. */
  private ingressClass(): void {
    new KubeIngressClass(this, 'ingress-class', {
      metadata: { name: TRAEFIK_INGRESS_CLASS, labels, annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
      spec: { controller: 'traefik.io/ingress-controller' },
    });
  }
}
