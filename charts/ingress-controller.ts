/**
 * What the rest of the project needs to know of the configured ingress
 * controller (`ingress.controller`): its stage, where it runs, what it is
 * called, how to tell it is ready, and how an app's host is routed to it. One place, so the bootstrap's apply
 * and its checks never name a controller themselves (the ports it binds on
 * the host network are in hosts/node/ports.ts, with every other port).
 */
import type { ApiObjectMetadata as ObjectMeta } from 'cdk8s';
import type { Construct } from 'constructs';
import type { ClusterConfig } from '../config/schema';
import { HttpRoute, HttpRouteSpecRulesMatchesPathType } from '../imports/httproute-gateway.networking.k8s.io';
import { INGRESS_CLASS_NAME, INGRESS_CONTROLLER_NAME, INGRESS_NGINX_NAMESPACE } from './ingress-nginx';
import { TRAEFIK_GATEWAY, TRAEFIK_INGRESS_CLASS, TRAEFIK_NAME, TRAEFIK_NAMESPACE } from './traefik';

export interface IngressController {
  /** Its apply stage, and the name of its file in dist/. */
  stage: 'traefik' | 'ingress-nginx';
  namespace: string;
  /** The controller's workload, e.g. daemonset/traefik. */
  workload: string;
  /** Its Service, and the name of the Service port that carries HTTP. */
  service: string;
  httpPort: string;
  /** The IngressClass the tomcat6 Ingress names (with ingress.api: ingress). */
  ingressClass: string;
  /**
   * With ingress.api: gateway: the Gateway the tomcat6 HTTPRoute attaches to,
   * and its listener; it is Programmed once the controller has taken it.
   */
  gateway?: { name: string; namespace: string; listener: string };
  /**
   * ingress-nginx only: its validating admission webhook, which must have its
   * CA before an Ingress can be created, and the Secret its admission Jobs
   * write (once it exists, the Jobs are not applied again).
   */
  admission?: { webhook: string; secret: string };
}

/** How a host reaches an app's Service: an Ingress of a class, or an HTTPRoute on a Gateway's listener. */
export type HostRoute =
  | { readonly api: 'ingress'; readonly ingressClassName: string }
  | { readonly api: 'gateway'; readonly gateway: { readonly name: string; readonly namespace: string; readonly listener: string } };

/**
 * The Gateway API's route for a host: every path under / to a port of a
 * Service, attached to the Gateway's listener (the same rule as an Ingress
 * rule with path / and pathType Prefix).
 */
export function gatewayRoute(scope: Construct, id: string, props: { metadata: ObjectMeta; host: string; service: string; port: number; gateway: { name: string; namespace: string; listener: string } }): HttpRoute {
  const { gateway } = props;
  return new HttpRoute(scope, id, {
    metadata: props.metadata,
    spec: {
      parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: gateway.name, namespace: gateway.namespace, sectionName: gateway.listener }],
      hostnames: [props.host],
      rules: [{
        matches: [{ path: { type: HttpRouteSpecRulesMatchesPathType.PATH_PREFIX, value: '/' } }],
        backendRefs: [{ kind: 'Service', name: props.service, port: props.port }],
      }],
    },
  });
}

/** The route the apps' hosts take with this controller and API. */
export function hostRoute(controller: IngressController): HostRoute {
  return controller.gateway ? { api: 'gateway', gateway: controller.gateway } : { api: 'ingress', ingressClassName: controller.ingressClass };
}

export function ingressController(config: ClusterConfig): IngressController {
  const kind = config.ingress.exposure === 'hostNetwork' ? 'daemonset' : 'deployment';
  if (config.ingress.controller === 'ingress-nginx') {
    return {
      stage: 'ingress-nginx',
      namespace: INGRESS_NGINX_NAMESPACE,
      workload: `${kind}/${INGRESS_CONTROLLER_NAME}`,
      service: INGRESS_CONTROLLER_NAME,
      httpPort: 'http',
      ingressClass: INGRESS_CLASS_NAME,
      admission: { webhook: 'ingress-nginx-admission', secret: 'ingress-nginx-admission' },
    };
  }
  return {
    stage: 'traefik',
    namespace: TRAEFIK_NAMESPACE,
    workload: `${kind}/${TRAEFIK_NAME}`,
    service: TRAEFIK_NAME,
    httpPort: 'web',
    ingressClass: TRAEFIK_INGRESS_CLASS,
    ...(config.ingress.api === 'gateway' ? { gateway: { ...TRAEFIK_GATEWAY } } : {}),
  };
}
