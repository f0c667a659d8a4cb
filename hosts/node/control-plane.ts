/**
 * The control plane's static pods on their node: stopped by taking their manifests out of the kubelet's
 * folder (the way kubeadm's documentation restarts them), started again by putting them back, and the API
 * server waited for. What certificate renewal and an etcd restore need; kubectl is of no use while they
 * are down.
 */
import { UserError } from '../../config/errors';
import { retry } from '../engine/retry';
import type { NodeRun } from '../engine/steps';
import { READYZ } from './kubeadm';

export const MANIFESTS_DIR = '/etc/kubernetes/manifests';
export const ETCD_MANIFEST = `${MANIFESTS_DIR}/etcd.yaml`;
/** The static pods kubeadm runs on a control plane, by manifest name. */
export const CONTROL_PLANE_PODS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

/** What the control plane's containers are called in the CRI, for crictl's --name. */
const CONTAINER_NAMES = `^(${CONTROL_PLANE_PODS.join('|')})$`;

export interface Waits {
  /** Tries of each wait, `delayMs` apart. */
  attempts: number;
  delayMs: number;
}

/** Whether any control-plane container still runs (crictl ps --name). */
async function anyRunning(run: NodeRun): Promise<boolean> {
  const listed = await run.query(['crictl', 'ps', '-q', '--name', CONTAINER_NAMES], { mustSucceed: true });
  return listed.stdout.trim() !== '';
}

/**
 * Stops the control plane: its manifests moved to `stash` (a folder of their own), then waited for until
 * none of its containers runs. Returns the manifests moved.
 */
export async function stopControlPlane(run: NodeRun, stash: string, waits: Waits): Promise<string[]> {
  const moved: string[] = [];
  await run.run(['mkdir', '-p', '-m', '0700', stash]);
  for (const pod of CONTROL_PLANE_PODS) {
    const file = `${MANIFESTS_DIR}/${pod}.yaml`;
    if ((await run.read(file)) === undefined) continue;
    await run.run(['mv', file, `${stash}/${pod}.yaml`]);
    moved.push(pod);
  }
  if (run.planning) return moved;
  const stopped = await retry(async () => !(await anyRunning(run)), { attempts: waits.attempts, delayMs: waits.delayMs, retryIf: (done) => !done });
  if (!stopped) throw new UserError([`${run.nodeName}: the control plane's containers still run ${Math.round((waits.attempts * waits.delayMs) / 1000)} s after their manifests left ${MANIFESTS_DIR} (crictl ps); their manifests are in ${stash}: move them back once the node is healthy`]);
  return moved;
}

/** Starts the control plane again: the manifests stopControlPlane moved to `stash` back in place, then the API server waited for. */
export async function startControlPlane(run: NodeRun, stash: string, pods: string[], waits: Waits): Promise<void> {
  for (const pod of pods) await run.run(['mv', `${stash}/${pod}.yaml`, `${MANIFESTS_DIR}/${pod}.yaml`]);
  await run.run(['rmdir', stash]);
  await waitForApiServer(run, waits);
}

/**
 * The API server answers /readyz through admin.conf's server (after a restart of the control plane, or, with a
 * virtual IP, after kube-vip started); `after` and `hint` complete the error.
 */
export async function waitForApiServer(run: NodeRun, waits: Waits, after = 'after the control plane was started again', hint = ''): Promise<void> {
  const argv = READYZ;
  if (run.planning) {
    await run.query(argv);
    return;
  }
  const ready = await retry(() => run.query(argv), { attempts: waits.attempts, delayMs: waits.delayMs, retryIf: (result) => result.code !== 0 });
  if (ready.code !== 0) throw new UserError([`${run.nodeName}: the API server did not become ready within ${Math.round((waits.attempts * waits.delayMs) / 1000)} s ${after}: ${(ready.stderr || ready.stdout).trim().split('\n').pop()}${hint}`]);
}

/** One flag of a static pod's command (`--name=value`), from its manifest. */
export function manifestFlag(manifest: string, flag: string): string | undefined {
  return new RegExp(`^\\s*- --${flag}=(\\S+)\\s*$`, 'm').exec(manifest)?.[1];
}

/** A static pod's image, from its manifest. */
export function manifestImage(manifest: string): string | undefined {
  return /^\s*image:\s*(\S+)\s*$/m.exec(manifest)?.[1];
}
