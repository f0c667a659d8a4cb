/**
 * hosts/init.mjs: kubeadm init on the control-plane node (skipped when
 * already done), root's admin kubeconfig, and a join ticket for the workers.
 */
import { UserError } from '../../config/errors';
import { hasNoWorkers, isSingleNode } from '../../config/nodes';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import { retry } from '../engine/retry';
import { waitForApiServer } from './control-plane';
import type { NodeRun, Step } from '../engine/steps';
import { COMMON_HELP, type NodeScript, runNodeScript } from './cli';
import { factsForKubeadm } from './facts';
import {
  ADMIN_CONF,
  API_SERVER_PORT,
  DEFAULT_TICKET_FILE,
  INIT_CONFIG_FILE,
  initConfig,
  type InitOptions,
  mintJoinDetails,
  READYZ,
  renderTicket,
  KUBELET_CONF,
  ROOT_KUBECONFIG,
  SUPER_ADMIN_CONF,
  TOKEN_TTL_MINUTES,
} from './kubeadm';
import { KUBE_VIP_MANIFEST, kubeVipManifest } from './kube-vip';

export function initSteps(config: ClusterConfig, node: ClusterNode, options: InitOptions = {}, vipInterface?: string): Step[] {
  const endpoint = config.kubernetes.controlPlaneEndpoint;
  return [
    // The virtual IP must answer while kubeadm init runs: its kubeconfigs and the kubelet already use it.
    ...(endpoint ? [kubeVipStep(config, node, vipInterface, 'before init')] : []),
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
        } else if (hasNoWorkers(config)) {
          run.out.line(`[${node.name}] no workers: the control planes get no taint (nodeRegistration.taints: []), so every pod runs on them`);
        }
        if (options.containerNodes) run.out.line(`[${node.name}] note: system-container nodes: kube-proxy leaves the conntrack table's size to the host (conntrack.maxPerCore: 0)`);
        await run.write(INIT_CONFIG_FILE, initConfig(config, node, options), { mode: 0o600 });
        await run.run(['kubeadm', 'init', `--config=${INIT_CONFIG_FILE}`]);
        return `control plane initialised: Kubernetes v${config.kubernetes.version}, pod network ${config.network.podCidr}, service network ${config.network.serviceCidr}${endpoint ? `, API server at the virtual IP ${endpoint}:${API_SERVER_PORT}` : ''}`;
      },
    },
    ...(endpoint ? [kubeVipStep(config, node, vipInterface, 'after init')] : []),
    adminKubeconfigStep(),
  ];
}

/** How long the virtual IP may take to answer after kube-vip's pod started (or restarted), in 2 s tries. */
const VIP_WAIT = { attempts: 90, delayMs: 2000 };

/**
 * kube-vip's static pod on a control plane (kube-vip.ts), in place before kubeadm starts the kubelet: a static
 * pod added to the kubelet of a node that had just joined waited minutes for its volume (seen with the kubelet
 * of 1.36.5), one there at the kubelet's start runs at once. Before the first init it reads super-admin.conf
 * (admin.conf has no rights until init has bound its group), from then on, and on the control planes that
 * join, admin.conf. A manifest replaced on a running
 * node is waited for: kube-vip running again and the API server answering through the virtual IP.
 */
export function kubeVipStep(config: ClusterConfig, node: ClusterNode, vipInterface: string | undefined, when: 'before init' | 'after init' | 'before join'): Step {
  return {
    title: when === 'after init' ? 'kube-vip kubeconfig' : 'kube-vip',
    async apply(run) {
      const running = (await run.read(when === 'before join' ? KUBELET_CONF : ADMIN_CONF)) !== undefined;
      // Before init on a node that already has a cluster: the step after init keeps it right.
      if (when === 'before init' && running && !run.planning) return undefined;
      if (!vipInterface) throw new UserError([`${node.name}: no interface holds the node's address ${node.address}, so kube-vip has nowhere to announce ${config.kubernetes.controlPlaneEndpoint}; fix nodes[].address`]);
      const kubeconfig = when === 'before init' ? SUPER_ADMIN_CONF : ADMIN_CONF;
      const manifest = kubeVipManifest(config, vipInterface, kubeconfig);
      const current = await run.read(KUBE_VIP_MANIFEST);
      if (current === manifest) return undefined;
      const live = running && when !== 'before init';
      if (current !== undefined && live) {
        // Another manifest (super-admin.conf's): kube-vip is stopped first and waited for, so that the container
        // seen next is the new one (the kubelet reads its folder every 20 s, and may restart pods meanwhile).
        await run.remove(KUBE_VIP_MANIFEST);
        await waitForKubeVip(run, 'stopped');
      }
      await run.write(KUBE_VIP_MANIFEST, manifest, { mode: 0o600 });
      if (live) await kubeVipAnswers(run, config);
      return `${KUBE_VIP_MANIFEST}: the virtual IP ${config.kubernetes.controlPlaneEndpoint} on ${vipInterface} (ARP, leader elected through the API server), reading ${kubeconfig}`;
    },
  };
}

/** After a control plane's join: its kube-vip runs, and the API server answers through the virtual IP. */
export function kubeVipRunningStep(config: ClusterConfig): Step {
  return {
    title: 'kube-vip running',
    async apply(run) {
      await kubeVipAnswers(run, config);
      return undefined;
    },
  };
}

/** kube-vip runs, and the API server answers through the virtual IP (admin.conf's server). */
async function kubeVipAnswers(run: NodeRun, config: ClusterConfig): Promise<void> {
  await waitForKubeVip(run, 'running');
  await waitForApiServer(run, VIP_WAIT, `through the virtual IP ${config.kubernetes.controlPlaneEndpoint} after kube-vip started`, '; see crictl logs of the kube-vip container, and check that no other machine has that address');
}

/** Whether a kube-vip container runs (crictl). */
async function kubeVipRuns(run: NodeRun): Promise<boolean> {
  return (await run.query(['crictl', 'ps', '-q', '--name', '^kube-vip$'])).stdout.trim() !== '';
}

/** Until kube-vip has stopped (its manifest gone) or runs (its manifest back). */
async function waitForKubeVip(run: NodeRun, state: 'stopped' | 'running'): Promise<void> {
  if (run.planning) {
    await kubeVipRuns(run);
    return;
  }
  const reached = await retry(async () => (await kubeVipRuns(run)) === (state === 'running'), { ...VIP_WAIT, retryIf: (done) => !done });
  if (!reached) throw new UserError([`${run.nodeName}: kube-vip has not ${state === 'running' ? 'started' : 'stopped'} ${(VIP_WAIT.attempts * VIP_WAIT.delayMs) / 1000} s after its manifest ${state === 'running' ? 'was written' : 'was removed'} (crictl ps --name kube-vip; journalctl -u kubelet)`]);
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
    await run.runSteps('init', [...initSteps(config, node, { containerNodes: facts.container !== undefined }, facts.nodeInterface?.name), ticketStep(config, (flags.ticket as string | undefined) ?? DEFAULT_TICKET_FILE, now)]);
  },
};

/** hosts/init.mjs */
export const main = () => runNodeScript(initScript);
