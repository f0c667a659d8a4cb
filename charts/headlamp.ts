/**
 * Headlamp v0.45.0, the Kubernetes web UI (`dashboard.enabled`): a port of
 * what its official Helm chart 0.45.0 renders for an in-cluster install
 * (`helm template headlamp headlamp/headlamp --namespace headlamp --set
 * config.oidc.secret.create=false`), object for object, in the chart's
 * order and with its names, plus the route and the login account.
 *
 * What differs from the chart, deliberately (the fidelity test lists each):
 * - a Namespace object (Helm creates it with --create-namespace);
 * - no Helm bookkeeping labels (helm.sh/chart, app.kubernetes.io/managed-by);
 * - no ClusterRoleBinding of Headlamp's own ServiceAccount to cluster-admin:
 *   in-cluster, Headlamp acts with the token each user signs in with, never
 *   with its own account, so that binding only made its account's tokens
 *   cluster-admin tokens. Instead a ServiceAccount `headlamp-login`, whose
 *   short-lived tokens (`scripts/bootstrap.mjs dashboard`) sign users in,
 *   bound to the built-in `view` ClusterRole (or `admin`, `access: admin`),
 *   and to a ClusterRole reading nodes and the other cluster-wide objects a
 *   viewer looks at, which `view` leaves out;
 * - the route for `host` through the cluster's ingress controller: an
 *   Ingress of its class, or an HTTPRoute on its Gateway.
 */
import { Chart, type ChartProps } from 'cdk8s';
import type { Construct } from 'constructs';
import { ADDON_IMAGES } from '../config/images';
import {
  IntOrString,
  KubeClusterRole,
  KubeClusterRoleBinding,
  KubeDeployment,
  KubeIngress,
  KubeNamespace,
  KubeService,
  KubeServiceAccount,
} from '../imports/k8s';
import { gatewayRoute, type HostRoute } from './ingress-controller';

export const HEADLAMP_NAMESPACE = 'headlamp';
export const HEADLAMP_NAME = 'headlamp';
/** The ServiceAccount whose tokens sign users in. */
export const HEADLAMP_LOGIN = 'headlamp-login';
export const HEADLAMP_SERVICE_PORT = 80;

const NS = HEADLAMP_NAMESPACE;
const selector = { 'app.kubernetes.io/name': 'headlamp', 'app.kubernetes.io/instance': 'headlamp' };
const labels = { ...selector, 'app.kubernetes.io/version': '0.45.0' };
const watch = ['get', 'list', 'watch'];

export interface HeadlampChartProps extends ChartProps {
  /** The host name it is served on. */
  readonly host: string;
  /** What a login token may do: the built-in `view` or `admin` ClusterRole, cluster-wide. */
  readonly access: 'view' | 'admin';
  /** How the host reaches it. */
  readonly route: HostRoute;
}

export class HeadlampChart extends Chart {
  constructor(scope: Construct, id: string, props: HeadlampChartProps) {
    super(scope, id, props);
    new KubeNamespace(this, 'namespace', { metadata: { name: NS } });
    // The chart's objects, in the order helm template writes them (its ClusterRoleBinding left out).
    new KubeServiceAccount(this, 'service-account', { metadata: { name: HEADLAMP_NAME, namespace: NS, labels } });
    new KubeService(this, 'service', {
      metadata: { name: HEADLAMP_NAME, namespace: NS, labels },
      spec: {
        type: 'ClusterIP',
        ports: [{ port: HEADLAMP_SERVICE_PORT, targetPort: IntOrString.fromString('http'), protocol: 'TCP', name: 'http' }],
        selector,
      },
    });
    this.deployment();
    this.loginAccount(props.access);
    this.route(props.host, props.route);
  }

  private deployment(): void {
    const probe = { httpGet: { path: '/', port: IntOrString.fromString('http'), scheme: 'HTTP' }, initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 };
    new KubeDeployment(this, 'deployment', {
      metadata: { name: HEADLAMP_NAME, namespace: NS, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: selector },
          spec: {
            serviceAccountName: HEADLAMP_NAME,
            // In-cluster, Headlamp reads the API server's address and CA from the mounted account files.
            automountServiceAccountToken: true,
            hostUsers: true,
            securityContext: {},
            containers: [{
              name: 'headlamp',
              securityContext: { privileged: false, runAsGroup: 101, runAsNonRoot: true, runAsUser: 100 },
              image: ADDON_IMAGES.headlamp,
              imagePullPolicy: 'IfNotPresent',
              // After the image's entrypoint (headlamp-server -html-static-dir /headlamp/frontend ...).
              args: ['-in-cluster', '-in-cluster-context-name=main', '-plugins-dir=/headlamp/plugins', '-session-ttl=86400'],
              ports: [{ name: 'http', containerPort: 4466, protocol: 'TCP' }],
              livenessProbe: probe,
              readinessProbe: probe,
              resources: {},
            }],
          },
        },
      },
    });
  }

  /** The account users sign in as, with what `access` allows and nothing more. */
  private loginAccount(access: 'view' | 'admin'): void {
    const subjects = [{ kind: 'ServiceAccount', name: HEADLAMP_LOGIN, namespace: NS }];
    new KubeServiceAccount(this, 'login', { metadata: { name: HEADLAMP_LOGIN, namespace: NS, labels } });
    new KubeClusterRoleBinding(this, 'login-access', {
      metadata: { name: `${HEADLAMP_LOGIN}-${access}`, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: access },
      subjects,
    });
    // What a viewer of the cluster looks at that the built-in roles leave out: the nodes first.
    new KubeClusterRole(this, 'cluster-view', {
      metadata: { name: `${HEADLAMP_LOGIN}-cluster-view`, labels },
      rules: [
        { apiGroups: [''], resources: ['nodes', 'persistentvolumes'], verbs: watch },
        { apiGroups: ['storage.k8s.io'], resources: ['storageclasses'], verbs: watch },
        { apiGroups: ['networking.k8s.io'], resources: ['ingressclasses'], verbs: watch },
        // The Gateway API's objects, which the built-in roles do not cover (read only, with either access).
        { apiGroups: ['gateway.networking.k8s.io'], resources: ['gatewayclasses', 'gateways', 'httproutes', 'grpcroutes', 'referencegrants', 'backendtlspolicies', 'listenersets', 'tcproutes', 'tlsroutes', 'udproutes'], verbs: watch },
      ],
    });
    new KubeClusterRoleBinding(this, 'cluster-view-binding', {
      metadata: { name: `${HEADLAMP_LOGIN}-cluster-view`, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${HEADLAMP_LOGIN}-cluster-view` },
      subjects,
    });
  }

  /** Every path of the host to port 80 of the Service, as the tomcat6 route does. */
  private route(host: string, route: HostRoute): void {
    const metadata = { name: HEADLAMP_NAME, namespace: NS, labels };
    if (route.api === 'ingress') {
      new KubeIngress(this, 'ingress', {
        metadata,
        spec: {
          ingressClassName: route.ingressClassName,
          rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: HEADLAMP_NAME, port: { number: HEADLAMP_SERVICE_PORT } } } }] } }],
        },
      });
    } else {
      gatewayRoute(this, 'http-route', { metadata, host, service: HEADLAMP_NAME, port: HEADLAMP_SERVICE_PORT, gateway: route.gateway });
    }
  }
}
