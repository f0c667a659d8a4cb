/**
 * `scripts/bootstrap.mjs dashboard`: where the dashboard (Headlamp) answers
 * and a short-lived token to sign in with, minted on the control plane by
 * `kubectl create token` for the ServiceAccount headlamp/headlamp-login
 * (what it may do is `dashboard.access`). The token is printed once, for
 * the user to paste, and never written anywhere: no file, no log. Nothing
 * on the cluster changes (a token request stores nothing).
 */
import { HEADLAMP_LOGIN, HEADLAMP_NAMESPACE } from '../../charts/headlamp';
import { UserError } from '../../config/errors';
import { controlPlane } from '../../config/nodes';
import { type ClusterConfig, dashboardHost, durationMinutes, tokenDurationProblem } from '../../config/schema';
import { redact } from '../engine/redact';
import { SshHost } from '../engine/ssh';
import { NodeRun } from '../engine/steps';
import { ADMIN_CONF } from '../node/kubeadm';
import { kubectl } from './apply';
import { connect } from './connect';
import { ingressUrls } from './verify';

export interface DashboardOptions {
  env: NodeJS.ProcessEnv;
  sshConfig?: string;
  /** How long the token is valid, e.g. 30m; default dashboard.tokenDuration. */
  duration?: string;
  print(line: string): void;
}

export async function dashboardAccess(config: ClusterConfig, options: DashboardOptions): Promise<void> {
  if (!config.dashboard.enabled) {
    throw new UserError(['dashboard.enabled is false in the cluster config: set it to true and run scripts/bootstrap.mjs, which deploys the dashboard']);
  }
  const duration = options.duration ?? config.dashboard.tokenDuration;
  const problem = tokenDurationProblem(duration);
  if (problem) throw new UserError([`--duration ${duration}: ${problem}`]);
  const cp = controlPlane(config);
  const [target] = await connect(config, {
    planning: false, env: options.env, sshConfig: options.sshConfig, progress: () => undefined, resetting: false, concurrency: 1, nodes: [cp],
  });
  try {
    const run = new NodeRun(cp.name, target.host, 'observe', { line: () => undefined, detail: () => undefined });
    if ((await run.read(ADMIN_CONF)) === undefined) throw new UserError([`${cp.name} has no ${ADMIN_CONF}: the control plane is not initialised yet; run scripts/bootstrap.mjs first`]);
    const minted = await run.query(kubectl('-n', HEADLAMP_NAMESPACE, 'create', 'token', HEADLAMP_LOGIN, `--duration=${durationMinutes(duration)}m`));
    const token = minted.stdout.trim();
    if (minted.code !== 0 || !token) {
      const why = redact(minted.stderr.trim().split('\n').slice(-1)[0] ?? '');
      throw new UserError([`${cp.name}: no token for ${HEADLAMP_NAMESPACE}/${HEADLAMP_LOGIN}${why ? ` (${why})` : ''}; is the dashboard applied? run scripts/bootstrap.mjs`]);
    }
    const [first] = await ingressUrls(run, config);
    const host = dashboardHost(config);
    const url = new URL(first.url);
    options.print(`dashboard: http://${host}${url.port ? `:${url.port}` : ''}/   (Headlamp; on your laptop, add to the hosts file: ${url.hostname}  ${host})`);
    options.print(`sign in with this token, valid ${duration} (ServiceAccount ${HEADLAMP_NAMESPACE}/${HEADLAMP_LOGIN}, ClusterRole ${config.dashboard.access}; stored nowhere, run this again for a new one):`);
    options.print(token);
  } finally {
    await SshHost.closeAll();
  }
}
