/**
 * hosts/init.mjs: kubeadm init on the control-plane node (skipped when
 * already done), root's admin kubeconfig, and a join ticket for the workers.
 */
import { UserError } from '../../config/errors';
import { isSingleNode } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import type { Step } from '../engine/steps';
import { COMMON_HELP, type NodeScript, runNodeScript } from './cli';
import { factsForKubeadm } from './facts';
import {
  ADMIN_CONF,
  DEFAULT_TICKET_FILE,
  INIT_CONFIG_FILE,
  initConfig,
  type InitOptions,
  mintJoinDetails,
  READYZ,
  renderTicket,
  ROOT_KUBECONFIG,
  TOKEN_TTL_MINUTES,
} from './kubeadm';

export function initSteps(config: ClusterConfig, node: ClusterNode, options: InitOptions = {}): Step[] {
  return [
    {
      title: 'kubeadm init',
      async apply(run) {
        if ((await run.read(ADMIN_CONF)) !== undefined) {
          // kubeadm writes admin.conf before it waits for the control plane: a failed init leaves one too.
          const ready = await run.query(READYZ);
          if (ready.code !== 0) {
            throw new UserError([`${node.name}: ${ADMIN_CONF} exists but the API server does not answer (an earlier kubeadm init did not finish?): run hosts/reset.mjs on this node, then init again`]);
          }
          run.out.line(`[${node.name}] already initialised (${ADMIN_CONF} exists, the API server is ready): kubeadm init skipped`);
          return undefined;
        }
        if (isSingleNode(config)) {
          run.out.line(`[${node.name}] a cluster of one node: the control plane gets no taint (nodeRegistration.taints: []), so every pod runs here`);
        }
        if (options.containerNodes) run.out.line(`[${node.name}] note: system-container nodes: kube-proxy leaves the conntrack table's size to the host (conntrack.maxPerCore: 0)`);
        await run.write(INIT_CONFIG_FILE, initConfig(config, node, options), { mode: 0o600 });
        await run.run(['kubeadm', 'init', `--config=${INIT_CONFIG_FILE}`]);
        return `control plane initialised: Kubernetes v${config.kubernetes.version}, pod network ${config.network.podCidr}, service network ${config.network.serviceCidr}`;
      },
    },
    adminKubeconfigStep(),
  ];
}

/** root's kubeconfig on the control plane: a copy of admin.conf, mode 0600 (again after the certificates are renewed). */
export function adminKubeconfigStep(): Step {
  return {
    title: 'admin kubeconfig',
    async apply(run) {
      const admin = await run.read(ADMIN_CONF);
      if (admin !== undefined && admin === (await run.read(ROOT_KUBECONFIG)) && (await run.host.mode(ROOT_KUBECONFIG)) === 0o600) return undefined;
      await run.run(['install', '-D', '-m', '0600', ADMIN_CONF, ROOT_KUBECONFIG]);
      return `${ROOT_KUBECONFIG} (mode 0600) for root`;
    },
  };
}

/** Writes a join ticket (a fresh token and the CA hash) for hosts/join.mjs on the workers. */
export function ticketStep(config: ClusterConfig, ticketFile: string, now: () => Date): Step {
  return {
    title: 'join ticket',
    async apply(run) {
      const details = await mintJoinDetails(run, config);
      const expires = run.planning
        ? `<${TOKEN_TTL_MINUTES} minutes from now>`
        : new Date(now().getTime() + TOKEN_TTL_MINUTES * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
      await run.write(ticketFile, renderTicket({ ...details, expires }), { mode: 0o600, secret: true });
      return `${ticketFile} (mode 0600, valid until ${expires}): copy it to each worker and run hosts/join.mjs --ticket <file> there`;
    },
  };
}

export const initScript: NodeScript = {
  name: 'init',
  help: `Usage: hosts/init.mjs [options]

Runs kubeadm init on this control-plane node (skipped when already done),
gives root the admin kubeconfig (~/.kube/config, mode 0600), and writes a join
ticket: a fresh join token valid 15 minutes plus the CA certificate hash. Run
it again for a new ticket.

  --ticket FILE  where to write the join ticket (default: ${DEFAULT_TICKET_FILE}, mode 0600)
${COMMON_HELP}`,
  flags: { ticket: { type: 'string' } },
  planState: 'prepared',
  async body({ run, config, node, flags, now }) {
    // Run alone, the control plane knows only itself: a container control plane sets up kube-proxy for containers.
    const facts = await factsForKubeadm(run, config, node, 'control-plane', 'hosts/init.mjs');
    await run.runSteps('init', [...initSteps(config, node, { containerNodes: facts.container !== undefined }), ticketStep(config, (flags.ticket as string | undefined) ?? DEFAULT_TICKET_FILE, now)]);
  },
};

/** hosts/init.mjs */
export const main = () => runNodeScript(initScript);
