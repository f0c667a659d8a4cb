/**
 * ingress-nginx controller v1.15.1: a port of the upstream bare-metal manifest
 * (deploy/static/provider/baremetal/deploy.yaml), object for object, in the
 * same order and with the same names.
 *
 * `ingress.exposure` picks how traffic reaches the controller:
 * - nodePort: upstream as is, a Deployment behind a NodePort Service.
 * - hostNetwork: a DaemonSet on the host network, so ports 80 and 443 of
 *   every worker serve Ingress traffic (as the classic tutorial did); the
 *   controller Service becomes ClusterIP because no NodePort is needed.
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
  KubeDeployment,
  KubeIngressClass,
  KubeJob,
  KubeNamespace,
  KubeRole,
  KubeRoleBinding,
  KubeService,
  KubeServiceAccount,
  KubeValidatingWebhookConfiguration,
  Quantity,
  type PodTemplateSpec,
  type PolicyRule,
  type SecurityContext,
} from '../imports/k8s';

export const INGRESS_NGINX_VERSION = '1.15.1';
export const INGRESS_NGINX_NAMESPACE = 'ingress-nginx';
export const INGRESS_CLASS_NAME = 'nginx';
export const INGRESS_CONTROLLER_NAME = 'ingress-nginx-controller';

const NS = INGRESS_NGINX_NAMESPACE;
const base = { 'app.kubernetes.io/instance': 'ingress-nginx', 'app.kubernetes.io/name': 'ingress-nginx' };
const partOf = { ...base, 'app.kubernetes.io/part-of': 'ingress-nginx', 'app.kubernetes.io/version': INGRESS_NGINX_VERSION };
const controllerLabels = { 'app.kubernetes.io/component': 'controller', ...partOf };
const admissionLabels = { 'app.kubernetes.io/component': 'admission-webhook', ...partOf };
const controllerSelector = { 'app.kubernetes.io/component': 'controller', ...base };

const watch = ['get', 'list', 'watch'];
const rule = (apiGroup: string, resources: string[], verbs: string[], resourceNames?: string[]): PolicyRule =>
  ({ apiGroups: [apiGroup], resources, verbs, ...(resourceNames ? { resourceNames } : {}) });

const nonRoot = (user: number, group: number, extra: Partial<SecurityContext>): SecurityContext => ({
  allowPrivilegeEscalation: false,
  runAsGroup: group,
  runAsNonRoot: true,
  runAsUser: user,
  seccompProfile: { type: 'RuntimeDefault' },
  ...extra,
});

const podNamespaceEnv = { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } };

export interface IngressNginxChartProps extends ChartProps {
  /**
   * How traffic reaches the controller: `hostNetwork`, a DaemonSet serving
   * ports 80 and 443 on every worker, or `nodePort`, upstream's Deployment
   * behind a NodePort Service.
   * @default 'hostNetwork'
   */
  readonly exposure?: 'hostNetwork' | 'nodePort';
  /**
   * Keep the images' sha256 digests.
   * @default true
   */
  readonly pinDigests?: boolean;
}

export class IngressNginxChart extends Chart {
  private readonly hostNetwork: boolean;
  private readonly pinDigests: boolean;

  constructor(scope: Construct, id: string, props: IngressNginxChartProps = {}) {
    super(scope, id, props);
    this.hostNetwork = (props.exposure ?? 'hostNetwork') === 'hostNetwork';
    this.pinDigests = props.pinDigests ?? true;
    // The objects of upstream's deploy.yaml, in its order.
    this.ingressNamespace();
    this.serviceAccounts();
    this.roles();
    this.clusterRoles();
    this.roleBindings();
    this.clusterRoleBindings();
    this.configMap();
    this.services();
    this.controller();
    this.admissionJobs();
    this.ingressClass();
    this.admissionWebhook();
  }

  private image(upstream: string): string {
    return addonImage(upstream, this.pinDigests);
  }

  /** The namespace everything else lives in. */
  private ingressNamespace(): void {
    new KubeNamespace(this, 'namespace', { metadata: { labels: base, name: NS } });
  }

  /** The controller's and the admission Jobs' service accounts. */
  private serviceAccounts(): void {
    new KubeServiceAccount(this, 'service-account', {
      automountServiceAccountToken: true,
      metadata: { labels: controllerLabels, name: 'ingress-nginx', namespace: NS },
    });
    new KubeServiceAccount(this, 'admission-service-account', {
      automountServiceAccountToken: true,
      metadata: { labels: admissionLabels, name: 'ingress-nginx-admission', namespace: NS },
    });
  }

  /** Namespaced permissions: the controller (leader election, its config) and the admission Jobs (the certificate Secret). */
  private roles(): void {
    new KubeRole(this, 'role', {
      metadata: { labels: controllerLabels, name: 'ingress-nginx', namespace: NS },
      rules: [
        rule('', ['namespaces'], ['get']),
        rule('', ['configmaps', 'pods', 'secrets', 'endpoints'], watch),
        rule('', ['services'], watch),
        rule('networking.k8s.io', ['ingresses'], watch),
        rule('networking.k8s.io', ['ingresses/status'], ['update']),
        rule('networking.k8s.io', ['ingressclasses'], watch),
        rule('coordination.k8s.io', ['leases'], ['get', 'update'], ['ingress-nginx-leader']),
        rule('coordination.k8s.io', ['leases'], ['create']),
        rule('', ['events'], ['create', 'patch']),
        rule('discovery.k8s.io', ['endpointslices'], ['list', 'watch', 'get']),
      ],
    });
    new KubeRole(this, 'admission-role', {
      metadata: { labels: admissionLabels, name: 'ingress-nginx-admission', namespace: NS },
      rules: [rule('', ['secrets'], ['get', 'create'])],
    });
  }

  /** Cluster-wide permissions: the controller reads Ingresses, Services and EndpointSlices; the admission Jobs patch the webhook. */
  private clusterRoles(): void {
    new KubeClusterRole(this, 'cluster-role', {
      metadata: { labels: partOf, name: 'ingress-nginx' },
      rules: [
        rule('', ['configmaps', 'endpoints', 'nodes', 'pods', 'secrets', 'namespaces'], ['list', 'watch']),
        rule('coordination.k8s.io', ['leases'], ['list', 'watch']),
        rule('', ['nodes'], ['get']),
        rule('', ['services'], watch),
        rule('networking.k8s.io', ['ingresses'], watch),
        rule('', ['events'], ['create', 'patch']),
        rule('networking.k8s.io', ['ingresses/status'], ['update']),
        rule('networking.k8s.io', ['ingressclasses'], watch),
        rule('discovery.k8s.io', ['endpointslices'], ['list', 'watch', 'get']),
      ],
    });
    new KubeClusterRole(this, 'admission-cluster-role', {
      metadata: { labels: admissionLabels, name: 'ingress-nginx-admission' },
      rules: [rule('admissionregistration.k8s.io', ['validatingwebhookconfigurations'], ['get', 'update'])],
    });
  }

  /** Each Role bound to its service account. */
  private roleBindings(): void {
    new KubeRoleBinding(this, 'role-binding', {
      metadata: { labels: controllerLabels, name: 'ingress-nginx', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ingress-nginx' },
      subjects: [{ kind: 'ServiceAccount', name: 'ingress-nginx', namespace: NS }],
    });
    new KubeRoleBinding(this, 'admission-role-binding', {
      metadata: { labels: admissionLabels, name: 'ingress-nginx-admission', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ingress-nginx-admission' },
      subjects: [{ kind: 'ServiceAccount', name: 'ingress-nginx-admission', namespace: NS }],
    });
  }

  /** Each ClusterRole bound to its service account. */
  private clusterRoleBindings(): void {
    new KubeClusterRoleBinding(this, 'cluster-role-binding', {
      metadata: { labels: partOf, name: 'ingress-nginx' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ingress-nginx' },
      subjects: [{ kind: 'ServiceAccount', name: 'ingress-nginx', namespace: NS }],
    });
    new KubeClusterRoleBinding(this, 'admission-cluster-role-binding', {
      metadata: { labels: admissionLabels, name: 'ingress-nginx-admission' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ingress-nginx-admission' },
      subjects: [{ kind: 'ServiceAccount', name: 'ingress-nginx-admission', namespace: NS }],
    });
  }

  /** The controller's (empty) ConfigMap. */
  private configMap(): void {
    new KubeConfigMap(this, 'config', {
      metadata: { labels: controllerLabels, name: INGRESS_CONTROLLER_NAME, namespace: NS },
    });
  }

  /** The controller's Service (ClusterIP on the host network, else NodePort) and the admission webhook's. */
  private services(): void {
    new KubeService(this, 'service', {
      metadata: { labels: controllerLabels, name: INGRESS_CONTROLLER_NAME, namespace: NS },
      spec: {
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'SingleStack',
        ports: [
          { appProtocol: 'http', name: 'http', port: 80, protocol: 'TCP', targetPort: IntOrString.fromString('http') },
          { appProtocol: 'https', name: 'https', port: 443, protocol: 'TCP', targetPort: IntOrString.fromString('https') },
        ],
        selector: controllerSelector,
        type: this.hostNetwork ? 'ClusterIP' : 'NodePort',
      },
    });
    new KubeService(this, 'admission-service', {
      metadata: { labels: controllerLabels, name: 'ingress-nginx-controller-admission', namespace: NS },
      spec: {
        ports: [{ appProtocol: 'https', name: 'https-webhook', port: 443, targetPort: IntOrString.fromString('webhook') }],
        selector: controllerSelector,
        type: 'ClusterIP',
      },
    });
  }

  /** The controller: a DaemonSet on the host network, or upstream's Deployment. */
  private controller(): void {
    const controllerPod: PodTemplateSpec = {
      metadata: { labels: controllerLabels },
      spec: {
        automountServiceAccountToken: true,
        containers: [{
          args: [
            '/nginx-ingress-controller',
            '--election-id=ingress-nginx-leader',
            '--controller-class=k8s.io/ingress-nginx',
            `--ingress-class=${INGRESS_CLASS_NAME}`,
            '--configmap=$(POD_NAMESPACE)/ingress-nginx-controller',
            '--validating-webhook=:8443',
            '--validating-webhook-certificate=/usr/local/certificates/cert',
            '--validating-webhook-key=/usr/local/certificates/key',
          ],
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            podNamespaceEnv,
            { name: 'LD_PRELOAD', value: '/usr/local/lib/libmimalloc.so' },
          ],
          image: this.image(ADDON_IMAGES.ingressNginxController),
          imagePullPolicy: 'IfNotPresent',
          lifecycle: { preStop: { exec: { command: ['/wait-shutdown'] } } },
          livenessProbe: {
            failureThreshold: 5,
            httpGet: { path: '/healthz', port: IntOrString.fromNumber(10254), scheme: 'HTTP' },
            initialDelaySeconds: 10,
            periodSeconds: 10,
            successThreshold: 1,
            timeoutSeconds: 1,
          },
          name: 'controller',
          ports: [
            { containerPort: 80, name: 'http', protocol: 'TCP' },
            { containerPort: 443, name: 'https', protocol: 'TCP' },
            { containerPort: 8443, name: 'webhook', protocol: 'TCP' },
          ],
          readinessProbe: {
            failureThreshold: 3,
            httpGet: { path: '/healthz', port: IntOrString.fromNumber(10254), scheme: 'HTTP' },
            initialDelaySeconds: 10,
            periodSeconds: 10,
            successThreshold: 1,
            timeoutSeconds: 1,
          },
          resources: { requests: { cpu: Quantity.fromString('100m'), memory: Quantity.fromString('90Mi') } },
          securityContext: nonRoot(101, 82, {
            capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
            readOnlyRootFilesystem: false,
          }),
          volumeMounts: [{ mountPath: '/usr/local/certificates/', name: 'webhook-cert', readOnly: true }],
        }],
        // On the host network the pod still resolves cluster names.
        dnsPolicy: this.hostNetwork ? 'ClusterFirstWithHostNet' : 'ClusterFirst',
        ...(this.hostNetwork ? { hostNetwork: true } : {}),
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        serviceAccountName: 'ingress-nginx',
        terminationGracePeriodSeconds: 300,
        volumes: [{ name: 'webhook-cert', secret: { secretName: 'ingress-nginx-admission' } }],
      },
    };
    const controllerMetadata = { labels: controllerLabels, name: INGRESS_CONTROLLER_NAME, namespace: NS };
    const rollout = { rollingUpdate: { maxUnavailable: IntOrString.fromNumber(1) }, type: 'RollingUpdate' };
    if (this.hostNetwork) {
      new KubeDaemonSet(this, 'controller', {
        metadata: controllerMetadata,
        spec: {
          minReadySeconds: 0,
          revisionHistoryLimit: 10,
          selector: { matchLabels: controllerSelector },
          updateStrategy: rollout,
          template: controllerPod,
        },
      });
    } else {
      new KubeDeployment(this, 'controller', {
        metadata: controllerMetadata,
        spec: {
          minReadySeconds: 0,
          revisionHistoryLimit: 10,
          selector: { matchLabels: controllerSelector },
          strategy: rollout,
          template: controllerPod,
        },
      });
    }
  }

  /** The Jobs that make the webhook's certificate and patch it into the webhook configuration. */
  private admissionJobs(): void {
    const certgenJob = (name: string, args: string[]) => new KubeJob(this, name, {
      metadata: { labels: admissionLabels, name: `ingress-nginx-admission-${name}`, namespace: NS },
      spec: {
        template: {
          metadata: { labels: admissionLabels, name: `ingress-nginx-admission-${name}` },
          spec: {
            automountServiceAccountToken: true,
            containers: [{
              args,
              env: [podNamespaceEnv],
              image: this.image(ADDON_IMAGES.ingressNginxCertgen),
              imagePullPolicy: 'IfNotPresent',
              name,
              securityContext: nonRoot(65532, 65532, { capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true }),
            }],
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            restartPolicy: 'OnFailure',
            serviceAccountName: 'ingress-nginx-admission',
          },
        },
        ttlSecondsAfterFinished: 0,
      },
    });
    certgenJob('create', [
      'create',
      '--host=ingress-nginx-controller-admission,ingress-nginx-controller-admission.$(POD_NAMESPACE).svc',
      '--namespace=$(POD_NAMESPACE)',
      '--secret-name=ingress-nginx-admission',
    ]);
    certgenJob('patch', [
      'patch',
      '--webhook-name=ingress-nginx-admission',
      '--namespace=$(POD_NAMESPACE)',
      '--patch-mutating=false',
      '--secret-name=ingress-nginx-admission',
      '--patch-failure-policy=Fail',
    ]);
  }

  /** The IngressClass `nginx`. */
  private ingressClass(): void {
    new KubeIngressClass(this, 'ingress-class', {
      metadata: { labels: controllerLabels, name: INGRESS_CLASS_NAME },
      spec: { controller: 'k8s.io/ingress-nginx' },
    });
  }

  /** The webhook that validates Ingresses before they are stored. */
  private admissionWebhook(): void {
    new KubeValidatingWebhookConfiguration(this, 'admission-webhook', {
      metadata: { labels: admissionLabels, name: 'ingress-nginx-admission' },
      webhooks: [{
        admissionReviewVersions: ['v1'],
        clientConfig: {
          service: { name: 'ingress-nginx-controller-admission', namespace: NS, path: '/networking/v1/ingresses', port: 443 },
        },
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        name: 'validate.nginx.ingress.kubernetes.io',
        rules: [{ apiGroups: ['networking.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['ingresses'] }],
        sideEffects: 'None',
      }],
    });
  }
}
