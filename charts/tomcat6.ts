/**
 * The tutorial's demo app: a tomcat6 Deployment, a NodePort Service `tomcat6`
 * (port 80 -> 8080), built with cdk8s-plus, and the route for the
 * configured host: an Ingress of the controller's class, or, with the
 * Gateway API, an HTTPRoute attached to the controller's Gateway.
 */
import { Chart, Duration, Size, type ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-25';
import type { Construct } from 'constructs';
import { IntOrString as K8sIntOrString, KubePodDisruptionBudget } from '../imports/k8s';
import type { ClusterConfig } from '../config/schema';
import { gatewayRoute, type HostRoute } from './ingress-controller';

export const TOMCAT6_NAME = 'tomcat6';
/** Its objects carry no namespace: they land in `default`, as the tutorial's did. */
export const TOMCAT6_NAMESPACE = 'default';
export const TOMCAT6_PORT = 8080;
export const TOMCAT6_SERVICE_PORT = 80;
/** How long an evicted tomcat6 pod keeps serving before it is stopped (its preStop sleep). */
export const TOMCAT6_PRESTOP_SECONDS = 10;
/** The label the tutorial's `kubectl create deployment tomcat6` put on its pods. */
export const TOMCAT6_LABELS = { app: TOMCAT6_NAME };

/** The `tomcat6` section of the cluster config (image, replicas, host, nodePort), and its route. */
export interface Tomcat6ChartProps extends ChartProps, Readonly<ClusterConfig['tomcat6']> {
  readonly route: HostRoute;
}

export class Tomcat6Chart extends Chart {
  constructor(scope: Construct, id: string, props: Tomcat6ChartProps) {
    super(scope, id, props);
    const app = props;

    const deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name: TOMCAT6_NAME, labels: TOMCAT6_LABELS },
      replicas: app.replicas,
      // Select pods by the tutorial's label instead of cdk8s's generated one,
      // so `kubectl get pods -l app=tomcat6` works as the tutorial shows.
      select: false,
      podMetadata: { labels: TOMCAT6_LABELS },
      // The official tomcat image runs as root and writes to logs/, work/
      // and temp/ under /usr/local/tomcat, so it runs as root (uid 0) with a
      // writable root filesystem, never privileged and without privilege
      // escalation. See README "Security choices".
      securityContext: { ensureNonRoot: false, user: 0, group: 0 },
      containers: [{
        name: 'tomcat',
        image: app.image,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        ports: [{ number: TOMCAT6_PORT, name: 'http' }],
        securityContext: {
          ensureNonRoot: false,
          user: 0,
          group: 0,
          readOnlyRootFilesystem: false,
          allowPrivilegeEscalation: false,
          privileged: false,
        },
        // Tomcat 6 on Java 8 sizes its heap from the host's memory, not the
        // container's limit: cap it well inside the memory limit.
        envVariables: { CATALINA_OPTS: kplus.EnvValue.fromValue('-Xms64m -Xmx256m') },
        resources: {
          // One CPU as the API server writes it ("1", not "1000m"): a re-apply then finds nothing to change.
          cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.units(1) },
          memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
        },
        // Tomcat 6 takes tens of seconds to start on a small VM: the startup
        // probe allows up to 150 s before liveness checks begin.
        startup: kplus.Probe.fromTcpSocket({ port: TOMCAT6_PORT, periodSeconds: Duration.seconds(5), failureThreshold: 30 }),
        readiness: kplus.Probe.fromHttpGet('/', { port: TOMCAT6_PORT, periodSeconds: Duration.seconds(10), failureThreshold: 3 }),
        liveness: kplus.Probe.fromTcpSocket({ port: TOMCAT6_PORT, periodSeconds: Duration.seconds(20), failureThreshold: 3 }),
        // A pod being evicted (a drain, an upgrade) keeps serving for a while after it is taken out of the
        // Service's endpoints, so the ingress controller (Traefik applies endpoint changes up to 2 s later)
        // never sends a request to a Tomcat that has already stopped. The image's own sleep (Debian's coreutils).
        lifecycle: { preStop: kplus.Handler.fromCommand(['sleep', String(TOMCAT6_PRESTOP_SECONDS)]) },
      }],
    });
    deployment.select(kplus.LabelSelector.of({ labels: TOMCAT6_LABELS }));
    // Drains (scripts/bootstrap.mjs upgrade, kubectl drain) take at most one replica away at a time.
    new KubePodDisruptionBudget(this, 'disruption-budget', {
      metadata: { name: TOMCAT6_NAME, labels: TOMCAT6_LABELS },
      spec: { maxUnavailable: K8sIntOrString.fromNumber(1), selector: { matchLabels: TOMCAT6_LABELS } },
    });

    const service = new kplus.Service(this, 'service', {
      metadata: { name: TOMCAT6_NAME, labels: TOMCAT6_LABELS },
      type: kplus.ServiceType.NODE_PORT,
      ports: [{
        name: 'http',
        port: TOMCAT6_SERVICE_PORT,
        targetPort: TOMCAT6_PORT,
        ...(app.nodePort !== undefined ? { nodePort: app.nodePort } : {}),
      }],
    });

    service.selectLabel('app', TOMCAT6_LABELS.app);

    const { route } = props;
    if (route.api === 'ingress') {
      new kplus.Ingress(this, 'ingress', {
        metadata: { name: TOMCAT6_NAME, labels: TOMCAT6_LABELS },
        className: route.ingressClassName,
        rules: [{
          host: app.host,
          path: '/',
          pathType: kplus.HttpIngressPathType.PREFIX,
          backend: kplus.IngressBackend.fromService(service, { port: TOMCAT6_SERVICE_PORT }),
        }],
      });
    } else {
      // The same rule as the Ingress: every path under / of the host, to port 80 of the Service.
      gatewayRoute(this, 'http-route', { metadata: { name: TOMCAT6_NAME, labels: TOMCAT6_LABELS }, host: app.host, service: service.name, port: TOMCAT6_SERVICE_PORT, gateway: route.gateway });
    }
  }
}
