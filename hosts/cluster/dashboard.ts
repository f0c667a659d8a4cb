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

/** Where `kubectl port-forward` makes Headlamp answer on the workstation. */
const LOCAL_PORT = 4466;
/** The port-forward to Headlamp's Service, with the kubeconfig `scripts/bootstrap.mjs kubeconfig` writes. */
export const PORT_FORWARD = `KUBECONFIG=./kubeconfig kubectl -n ${HEADLAMP_NAMESPACE} port-forward service/headlamp ${LOCAL_PORT}:80`;

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
    planning: false, env: options.env, sshConfig: options.sshConfig, progress: () => undefined, concurrency: 1, nodes: [cp],
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
    // The token is a credential: the way to sign in keeps it inside kubectl's TLS connection to the API server.
    options.print(`dashboard: ${PORT_FORWARD} then open http://127.0.0.1:${LOCAL_PORT}/   (Headlamp, through the API server's TLS: the token never crosses the network in clear)`);
    options.print(`also at http://${host}${url.port ? `:${url.port}` : ''}/ through the ingress controller (hosts file: ${url.hostname}  ${host}): plain HTTP, so not for signing in on a network you do not trust`);
    options.print(`sign in with this token, valid ${duration} (ServiceAccount ${HEADLAMP_NAMESPACE}/${HEADLAMP_LOGIN}, ClusterRole ${config.dashboard.access}; stored nowhere, run this again for a new one):`);
    options.print(token);
  } finally {
    await SshHost.closeAll();
  }
}
