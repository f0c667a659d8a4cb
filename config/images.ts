/**
 * The images the cluster pulls, and where they are pulled from.
 *
 * dist/ always names images as upstream does (with their digests, unless
 * `images.pinDigests: false`). A registry mirror is the nodes' business:
 * prep tells each node's containerd to pull through it (hosts.toml under
 * /etc/containerd/certs.d, one per upstream registry), so the same dist/
 * works with and without a mirror, and digests are verified through it.
 *
 * kubeadm's own images (control plane, etcd, CoreDNS, pause) come from
 * registry.k8s.io too, through the same mirror; `images.controlPlaneRepository`
 * instead names a flat copy of them (e.g. aliyun's google_containers), which
 * becomes kubeadm's imageRepository.
 */
import { parseImage, type ClusterConfig } from './schema';

export const UPSTREAM_CONTROL_PLANE_REGISTRY = 'registry.k8s.io';

/** The add-on images of dist/, exactly as upstream names them. */
export const ADDON_IMAGES = {
  flannel: 'ghcr.io/flannel-io/flannel:v0.28.9',
  flannelCniPlugin: 'ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3',
  ingressNginxController: 'registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:594ceea76b01c592858f803f9ff4d2cb40542cae2060410b2c95f75907d659e1',
  // Traefik's chart 41.3.0 pins no digest, and none can be verified here: the tag only.
  traefik: 'docker.io/traefik:v3.7.11',
  // Headlamp's chart 0.45.0 pins no digest, and none can be verified here: the tag only.
  headlamp: 'ghcr.io/headlamp-k8s/headlamp:v0.45.0',
  ingressNginxCertgen: 'registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.9@sha256:01038e7de14b78d702d2849c3aad72fd25903c4765af63cf16aa3398f5d5f2dd',
} as const;

/**
 * kube-vip, the virtual IP of a control plane of more than one node: a static pod on each control plane
 * (hosts/node/kube-vip.ts), not in dist/. v1.0.0 is the release the Go module proxy serves, so the one the
 * tests build and run; no digest can be verified here: the tag only.
 */
export const KUBE_VIP_IMAGE = 'ghcr.io/kube-vip/kube-vip:v1.0.0';

/** An image as dist/ writes it: upstream's name, its digest kept unless `pinDigests` is off. */
export function addonImage(upstream: string, pinDigests: boolean): string {
  const ref = parseImage(upstream);
  if (!ref?.domain || !ref.repository) throw new Error(`not a fully qualified image: ${upstream}`);
  const tag = ref.tag ? `:${ref.tag}` : '';
  const digest = ref.digest && pinDigests ? `@${ref.digest}` : '';
  return `${ref.domain}/${ref.repository}${tag}${digest}`;
}

/** kubeadm's ClusterConfiguration.imageRepository (control-plane images, etcd, CoreDNS, pause). */
export function controlPlaneImageRepository(images: ClusterConfig['images']): string {
  return images.controlPlaneRepository ?? UPSTREAM_CONTROL_PLANE_REGISTRY;
}

/** The registry an image reference pulls from (docker.io for `tomcat:6.0.53-jre8`). */
export function registryOf(image: string): string {
  return parseImage(image)?.domain ?? 'docker.io';
}

/** Every registry the cluster pulls from: kubeadm's, the add-ons', tomcat6's. */
export function clusterRegistries(config: ClusterConfig): string[] {
  const images = [...Object.values(ADDON_IMAGES), KUBE_VIP_IMAGE, config.tomcat6.image];
  return [...new Set([UPSTREAM_CONTROL_PLANE_REGISTRY, ...images.map(registryOf)])].sort();
}

/** A mirror as containerd's hosts.toml names it. */
export interface RegistryMirror {
  /** The registry it stands in for, e.g. registry.k8s.io. */
  upstream: string;
  /** The mirror's API root: https://host[:port], or https://host[:port]/v2/<path> with `overridePath`. */
  url: string;
  overridePath: boolean;
}

/** `[http(s)://]host[:port][/path]` as containerd wants it. */
export function mirrorHost(upstream: string, mirror: string): RegistryMirror {
  const withScheme = /^https?:\/\//.test(mirror) ? mirror : `https://${mirror}`;
  const url = new URL(withScheme);
  const path = url.pathname.replace(/^\/+|\/+$/g, '');
  // A mirror under a path (a Harbor project, say) serves /v2/<path>/<repository>: containerd must not add its own /v2.
  return path ? { upstream, url: `${url.origin}/v2/${path}`, overridePath: true } : { upstream, url: url.origin, overridePath: false };
}

/** The mirror of each registry the cluster pulls from (and of each one `images.mirrors` names). */
export function registryMirrors(config: ClusterConfig): RegistryMirror[] {
  const { mirror, mirrors = {} } = config.images;
  const upstreams = [...new Set([...clusterRegistries(config), ...Object.keys(mirrors)])].sort();
  return upstreams.flatMap((upstream) => {
    const chosen = mirrors[upstream] ?? mirror;
    return chosen ? [mirrorHost(upstream, chosen)] : [];
  });
}
