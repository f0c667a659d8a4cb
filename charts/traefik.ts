/**
 * Traefik v3.7 as the ingress controller: a port of what the official Helm
 * chart 41.3.0 renders (`helm template traefik traefik/traefik --namespace
 * traefik`) with one Kubernetes provider, object for object, in the chart's order and
 * with its names:
 * - `api: ingress`: the Kubernetes Ingress provider and the IngressClass
 *   `traefik`, the cluster's default class;
 * - `api: gateway`: the Kubernetes Gateway provider, the GatewayClass
 *   `traefik` and the chart's Gateway `traefik-gateway`, its HTTP listener on
 *   the web entry point (the chart's `gateway.*` values), taking routes from
 *   the namespaces the project's apps live in.
 * Either way also the chart's file provider (`providers.file`), holding one
 * middleware, `retry`, which the web and websecure entry points put on every
 * route (`ports.<name>.http.middlewares`): see TRAEFIK_RETRY.
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
import { stringify } from 'yaml';
import type { Construct } from 'constructs';
import { ADDON_IMAGES } from '../config/images';
import { Gateway, GatewaySpecListenersAllowedRoutesNamespacesFrom, GatewaySpecListenersAllowedRoutesNamespacesSelectorMatchExpressions as NamespaceMatch } from '../imports/gateway-gateway.networking.k8s.io';
import { GatewayClass } from '../imports/gatewayclass-gateway.networking.k8s.io';
import {
  KubeClusterRole,
  KubeClusterRoleBinding,
  KubeConfigMap,
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
export const TRAEFIK_GATEWAY_CLASS = 'traefik';
/** The chart's Gateway, in Traefik's namespace, and its one listener (HTTP, on the web entry point). */
/**
 * Traefik's metrics entry point. Not the chart's 9100: on the host network that is every node's, and
 * node-exporter (also on the host network, on 9100) would crashloop beside it, as the chart's values warn.
 */
export const TRAEFIK_METRICS_PORT = 8082;
export const TRAEFIK_GATEWAY = { name: 'traefik-gateway', namespace: 'traefik', listener: 'web' } as const;

/**
 * The one middleware of the chart's file provider (`providers.file`, the ConfigMap traefik-file-provider), put
 * on the web and websecure entry points (`ports.<name>.http.middlewares`), so every route has it. A request a
 * pod cannot take is tried again on another pod, up to 3 attempts in all: a connection refused or reset
 * before the request was sent (any method), and, for the methods that are safe to repeat (all but POST,
 * PATCH and LOCK), Traefik's own 502 after it was sent (a pod that closed the connection while stopping;
 * Traefik keeps such a request's body, up to 2 MB, to send it again).
 * This is what ingress-nginx does by default (proxy_next_upstream error); without it a pod stopping on a
 * drain (upgrade, reset --only) could cost a client a 502 in the moment before Traefik learns it is gone.
 */
export const TRAEFIK_RETRY = { name: 'retry', ref: 'retry@file', attempts: 3, status: ['502'] } as const;

/** The file provider's dynamic configuration (the chart's `providers.file.content`): the retry middleware. */
export const traefikFileProviderContent = () => ({ http: { middlewares: { [TRAEFIK_RETRY.name]: { retry: { attempts: TRAEFIK_RETRY.attempts, status: [...TRAEFIK_RETRY.status] } } } } });

/** Where the chart puts the file provider: its ConfigMap, the pod's volume of it, and the folder it is mounted at. */
const FILE_PROVIDER = { configMap: `${TRAEFIK_NAME}-file-provider`, volume: 'traefik-extra-config', directory: '/etc/traefik/dynamic' } as const;

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
  /**
   * What routes traffic: `ingress`, Ingress objects (the Ingress provider and
   * an IngressClass), or `gateway`, the Gateway API (the Gateway provider, a
   * GatewayClass and a Gateway). The Gateway API's CRDs come from the
   * gateway-api chart.
   * @default 'ingress'
   */
  readonly api?: 'ingress' | 'gateway';
  /**
   * With `api: gateway`: the namespaces whose HTTPRoutes the Gateway takes
   * (a route anywhere else is not attached).
   * @default ['default']
   */
  readonly routeNamespaces?: string[];
}

export class TraefikChart extends Chart {
  private readonly hostNetwork: boolean;
  private readonly gateway: boolean;

  constructor(scope: Construct, id: string, props: TraefikChartProps = {}) {
    super(scope, id, props);
    this.hostNetwork = (props.exposure ?? 'hostNetwork') === 'hostNetwork';
    this.gateway = props.api === 'gateway';
    this.traefikNamespace();
    // The chart's objects, in the order helm template writes them.
    this.serviceAccount();
    this.fileProvider();
    this.clusterRole();
    this.clusterRoleBinding();
    this.service();
    this.controller();
    if (this.gateway) {
      this.gatewayObject(props.routeNamespaces ?? ['default']);
      this.gatewayClass();
    } else {
      this.ingressClass();
    }
  }

  /** The web entry point's port: 80 on the host network, the chart's 8000 in the pod network. */
  private get webPort(): number {
    return this.hostNetwork ? 80 : 8000;
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

  /** The file provider's dynamic configuration: the retry middleware (TRAEFIK_RETRY). */
  private fileProvider(): void {
    new KubeConfigMap(this, 'file-provider', {
      metadata: { name: FILE_PROVIDER.configMap, namespace: NS, labels },
      data: { 'config.yml': stringify(traefikFileProviderContent(), { indentSeq: false }).trimEnd() },
    });
  }

  /** What the provider reads and writes, cluster-wide: the chart's common rules, then its provider's. */
  private clusterRole(): void {
    const gatewayResources = ['backendtlspolicies', 'gatewayclasses', 'gateways', 'grpcroutes', 'httproutes', 'referencegrants', 'tcproutes', 'tlsroutes'];
    const provider = this.gateway
      ? [
        rule([''], ['namespaces'], ['list', 'watch']),
        rule(['gateway.networking.k8s.io'], gatewayResources, watch),
        rule(['gateway.networking.k8s.io'], gatewayResources.filter((r) => r !== 'referencegrants').map((r) => `${r}/status`), ['update']),
      ]
      : [
        rule(['extensions', 'networking.k8s.io'], ['ingressclasses', 'ingresses'], watch),
        rule(['extensions', 'networking.k8s.io'], ['ingresses/status'], ['update']),
        rule([''], ['namespaces'], ['list', 'watch']),
      ];
    new KubeClusterRole(this, 'cluster-role', {
      metadata: { name: 'traefik-traefik', labels },
      rules: [
        rule([''], ['configmaps', 'nodes', 'services'], watch),
        rule(['discovery.k8s.io'], ['endpointslices'], ['list', 'watch']),
        rule([''], ['pods'], ['get']),
        rule([''], ['secrets'], watch),
        ...provider,
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
    const web = this.webPort;
    const websecure = this.hostNetwork ? 443 : 8443;
    const hostPort = (port: number) => (this.hostNetwork ? { hostPort: port } : {});
    const ping = { httpGet: { path: '/ping', port: IntOrString.fromNumber(8080), scheme: 'HTTP' }, initialDelaySeconds: 2, periodSeconds: 10, successThreshold: 1, timeoutSeconds: 2 };
    return {
      metadata: {
        annotations: { 'prometheus.io/path': '/metrics', 'prometheus.io/port': String(TRAEFIK_METRICS_PORT), 'prometheus.io/scrape': 'true' },
        labels: selector,
      },
      spec: {
        automountServiceAccountToken: true,
        containers: [{
          args: [
            `--entryPoints.metrics.address=:${TRAEFIK_METRICS_PORT}/tcp`,
            '--entryPoints.traefik.address=:8080/tcp',
            `--entryPoints.web.address=:${web}/tcp`,
            `--entryPoints.websecure.address=:${websecure}/tcp`,
            '--api.dashboard=true',
            '--ping=true',
            '--metrics.prometheus=true',
            '--metrics.prometheus.entrypoint=metrics',
            ...(this.gateway
              ? [
                '--providers.kubernetesgateway',
                `--providers.kubernetesgateway.statusaddress.service.name=${TRAEFIK_NAME}`,
                `--providers.kubernetesgateway.statusaddress.service.namespace=${NS}`,
              ]
              : [
                '--providers.kubernetesingress',
                '--providers.kubernetesingress.allowEmptyServices=true',
                `--providers.kubernetesingress.ingressendpoint.publishedservice=${NS}/${TRAEFIK_NAME}`,
              ]),
            `--providers.file.directory=${FILE_PROVIDER.directory}`,
            '--providers.file.watch=true',
            `--entryPoints.web.http.middlewares=${TRAEFIK_RETRY.ref}`,
            `--entryPoints.websecure.http.middlewares=${TRAEFIK_RETRY.ref}`,
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
            { containerPort: TRAEFIK_METRICS_PORT, name: 'metrics', protocol: 'TCP' },
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
          volumeMounts: [{ mountPath: '/data', name: 'data' }, { mountPath: '/tmp', name: 'tmp' }, { mountPath: FILE_PROVIDER.directory, name: FILE_PROVIDER.volume }],
        }],
        ...(this.hostNetwork ? { dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
        hostNetwork: this.hostNetwork,
        securityContext: this.hostNetwork
          ? { runAsGroup: 0, runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } }
          : { runAsGroup: 65532, runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
        serviceAccountName: TRAEFIK_NAME,
        terminationGracePeriodSeconds: 60,
        volumes: [{ emptyDir: {}, name: 'data' }, { emptyDir: {}, name: 'tmp' }, { configMap: { name: FILE_PROVIDER.configMap }, name: FILE_PROVIDER.volume }],
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

  /**
   * The chart's Gateway: one HTTP listener on the web entry point (a
   * listener's port is the entry point's, not the Service's), taking
   * HTTPRoutes from the given namespaces only.
   */
  private gatewayObject(routeNamespaces: string[]): void {
    new Gateway(this, 'gateway', {
      metadata: { name: TRAEFIK_GATEWAY.name, namespace: TRAEFIK_GATEWAY.namespace, labels },
      spec: {
        gatewayClassName: TRAEFIK_GATEWAY_CLASS,
        listeners: [{
          name: TRAEFIK_GATEWAY.listener,
          port: this.webPort,
          protocol: 'HTTP',
          allowedRoutes: {
            namespaces: {
              from: GatewaySpecListenersAllowedRoutesNamespacesFrom.SELECTOR,
              selector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: routeNamespaces } satisfies NamespaceMatch] },
            },
          },
        }],
      },
    });
  }

  /** GatewayClass traefik: Gateways of this class are Traefik's. */
  private gatewayClass(): void {
    new GatewayClass(this, 'gateway-class', {
      metadata: { name: TRAEFIK_GATEWAY_CLASS, labels },
      spec: { controllerName: 'traefik.io/gateway-controller' },
    });
  }
}
