/**
 * What the rest of the project needs to know of the configured ingress
 * controller (`ingress.controller`): its stage, where it runs, what it is
 * called, and how to tell it is ready. One place, so the bootstrap's apply
 * and its checks never name a controller themselves (the ports it binds on
 * the host network are in hosts/node/ports.ts, with every other port).
 */
import type { ClusterConfig } from '../config/schema';
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
