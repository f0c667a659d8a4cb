/**
 * Where container images are pulled from. With `images.mirror` set, every
 * add-on image keeps its upstream path under the mirror
 * (ghcr.io/flannel-io/flannel:v0.28.9 -> <mirror>/flannel-io/flannel:v0.28.9),
 * and kubeadm's imageRepository is the mirror itself (registry.k8s.io's
 * control-plane images live at the top level of that registry).
 */
import type { ClusterConfig } from './schema';
import { parseImage } from './schema';

export const UPSTREAM_CONTROL_PLANE_REGISTRY = 'registry.k8s.io';

/** Where images come from: the `images` section of the cluster config. */
export type ImageSource = ClusterConfig['images'];

/** No mirror, digests pinned: the images exactly as upstream names them. */
export const UPSTREAM_IMAGES: ImageSource = { pinDigests: true };

export function addonImage(upstream: string, images: ImageSource): string {
  const ref = parseImage(upstream);
  if (!ref?.domain || !ref.repository) throw new Error(`not a fully qualified image: ${upstream}`);
  const registry = images.mirror ?? ref.domain;
  const tag = ref.tag ? `:${ref.tag}` : '';
  const digest = ref.digest && images.pinDigests ? `@${ref.digest}` : '';
  return `${registry}/${ref.repository}${tag}${digest}`;
}

/** kubeadm's ClusterConfiguration.imageRepository (control-plane images, CoreDNS, pause). */
export function controlPlaneImageRepository(images: ImageSource): string {
  return images.mirror ?? UPSTREAM_CONTROL_PLANE_REGISTRY;
}
