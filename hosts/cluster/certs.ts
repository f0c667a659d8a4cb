/**
 * The control plane's certificates: when they expire (`kubeadm certs check-expiration`, which `status`
 * shows), and `scripts/bootstrap.mjs certs renew`: `kubeadm certs renew all`, the control plane's static
 * pods restarted so they load the new certificates, root's admin kubeconfig on the node refreshed (the
 * workstation's comes with `scripts/bootstrap.mjs kubeconfig`).
 */
import { z } from 'zod';
import { UserError } from '../../config/errors';
import { controlPlane } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import { SshHost } from '../engine/ssh';
import { NodeRun, type Step, StepFailed } from '../engine/steps';
import { compactTimestamp } from '../engine/time';
import { startControlPlane, stopControlPlane, type Waits } from '../node/control-plane';
import { adminKubeconfigStep } from '../node/init';
import { ADMIN_CONF } from '../node/kubeadm';
import { connect } from './connect';

/** Under this many days to the earliest expiry, status warns. */
export const RENEW_WARNING_DAYS = 30;

/** kubeadm's output.kubeadm.k8s.io/v1alpha3 CertificateExpirationInfo, the parts used here. */
const expirationSchema = z.object({
  kind: z.literal('CertificateExpirationInfo'),
  certificates: z.array(z.object({ name: z.string(), expirationDate: z.string(), missing: z.boolean().optional(), externallyManaged: z.boolean().optional() })),
  certificateAuthorities: z.array(z.object({ name: z.string(), expirationDate: z.string(), missing: z.boolean().optional() })),
});

export interface Expiry {
  name: string;
  expires: Date;
}

export interface Expirations {
  /** The certificates kubeadm renews (not the CAs), earliest first. */
  certificates: Expiry[];
  authorities: Expiry[];
}

/** `kubeadm certs check-expiration -o json`, parsed; the certificates sorted by expiry. */
export function parseExpirations(json: string): Expirations {
  const parsed = expirationSchema.parse(JSON.parse(json));
  const dates = (list: { name: string; expirationDate: string; missing?: boolean }[]) => list.filter((c) => !c.missing)
    .map((c) => ({ name: c.name, expires: new Date(c.expirationDate) })).sort((a, b) => a.expires.getTime() - b.expires.getTime());
  return { certificates: dates(parsed.certificates), authorities: dates(parsed.certificateAuthorities) };
}

/** The control plane's certificate expirations, as kubeadm reads them (read only). */
export async function readExpirations(run: NodeRun): Promise<Expirations> {
  const argv = ['kubeadm', 'certs', 'check-expiration', '-o', 'json'];
  const result = await run.query(argv, { mustSucceed: true });
  if (run.planning) return { certificates: [], authorities: [] };
  try {
    return parseExpirations(result.stdout);
  } catch {
    throw new StepFailed(run.nodeName, run.stepTitle || 'certificates', argv, { ...result, stderr: `not kubeadm's CertificateExpirationInfo: ${result.stdout.slice(0, 200)}` });
  }
}

const DAY_MS = 86_400_000;
/** "2027-12-06 07:17 UTC (364 days)" */
export function expiryText(expires: Date, now: Date): string {
  const days = Math.floor((expires.getTime() - now.getTime()) / DAY_MS);
  return `${expires.toISOString().slice(0, 16).replace('T', ' ')} UTC (${days < 0 ? `expired ${-days} day(s) ago` : `${days} day(s)`})`;
}

/** The line status prints, and whether it is a problem (expired) or a warning (under RENEW_WARNING_DAYS). */
export function expiryLine(expirations: Expirations, now: Date): { line: string; problem?: string; warning?: string } {
  const earliest = expirations.certificates[0];
  if (!earliest) return { line: 'no certificate found by kubeadm certs check-expiration', problem: 'kubeadm found no control-plane certificate' };
  const line = `earliest expiry: ${earliest.name}, ${expiryText(earliest.expires, now)}`;
  const left = earliest.expires.getTime() - now.getTime();
  if (left <= 0) return { line, problem: `the control plane's certificate ${earliest.name} has expired: run scripts/bootstrap.mjs certs renew` };
  if (left < RENEW_WARNING_DAYS * DAY_MS) return { line, warning: `warning: the control plane's certificates expire within ${RENEW_WARNING_DAYS} days (${earliest.name} first): run scripts/bootstrap.mjs certs renew` };
  return { line };
}

/** certs renew on the control plane: renewed, the static pods restarted with them, root's kubeconfig refreshed. */
export function renewSteps(node: ClusterNode, waits: Waits, now: () => Date, report: (before: Expirations, after: Expirations) => void): Step[] {
  let before: Expirations = { certificates: [], authorities: [] };
  return [
    {
      title: 'renew',
      async apply(run) {
        before = await readExpirations(run);
        await run.run(['kubeadm', 'certs', 'renew', 'all']);
        return 'kubeadm certs renew all: every certificate of the control plane, one more year from now';
      },
    },
    {
      title: 'restart control plane',
      async apply(run) {
        // They read their certificates only at start: stopped and started again (a minute without the API server).
        const stash = `/etc/kubernetes/manifests-stopped-${compactTimestamp(now())}`;
        const moved = await stopControlPlane(run, stash, waits);
        await startControlPlane(run, stash, moved, waits);
        return `${moved.join(', ')} restarted with the new certificates; the API server answers`;
      },
    },
    adminKubeconfigStep(),
    {
      title: 'check',
      async apply(run) {
        const after = await readExpirations(run);
        report(before, after);
        if (!run.planning && before.certificates[0] && after.certificates[0] && after.certificates[0].expires <= before.certificates[0].expires) {
          throw new UserError([`${node.name}: the certificates were renewed but the earliest expiry did not move (${after.certificates[0].name}: ${after.certificates[0].expires.toISOString()})`]);
        }
        return undefined;
      },
    },
  ];
}

/** `scripts/bootstrap.mjs certs`: when each certificate of the control plane expires, read only. */
export async function certificateReport(config: ClusterConfig, options: { env: NodeJS.ProcessEnv; sshConfig?: string; print(line: string): void }): Promise<void> {
  const cp = controlPlane(config);
  const [target] = await connect(config, { planning: false, env: options.env, sshConfig: options.sshConfig, progress: () => undefined, concurrency: 1, nodes: [cp] });
  try {
    const run = new NodeRun(cp.name, target.host, 'observe', { line: () => undefined, detail: () => undefined });
    if ((await run.read(ADMIN_CONF)) === undefined) throw new UserError([`${cp.name} has no ${ADMIN_CONF}: the control plane is not initialised yet; run scripts/bootstrap.mjs first`]);
    const expirations = await readExpirations(run);
    const now = new Date();
    options.print(`certificates of ${cp.name} (kubeadm certs check-expiration):`);
    for (const c of expirations.certificates) options.print(`    ${c.name.padEnd(26)} ${expiryText(c.expires, now)}`);
    options.print('certificate authorities (not renewed by certs renew; kubeadm makes them for 10 years):');
    for (const c of expirations.authorities) options.print(`    ${c.name.padEnd(26)} ${expiryText(c.expires, now)}`);
    const { line, problem, warning } = expiryLine(expirations, now);
    options.print(line);
    if (warning) options.print(warning);
    if (problem) throw new UserError([problem]);
  } finally {
    await SshHost.closeAll();
  }
}
