/**
 * hosts/join.mjs: kubeadm join on a worker (skipped when already joined),
 * with the join ticket from the control plane: a short-lived token and the
 * CA certificate hash, which the join verifies.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../config/errors';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import type { Step } from '../engine/steps';
import { COMMON_HELP, type NodeScript, runNodeScript } from './cli';
import { factsForKubeadm } from './facts';
import { adminKubeconfigStep, kubeVipRunningStep, kubeVipStep } from './init';
import { type ControlPlaneJoinDetails, DEFAULT_TICKET_FILE, JOIN_CONFIG_FILE, type JoinDetails, joinConfig, KUBELET_CONF, parseTicket } from './kubeadm';

/**
 * A worker joins with a token and the pinned CA; a control plane also with the certificate key, then gets
 * kube-vip (`vipInterface`: the interface holding its address) and root's admin kubeconfig.
 */
export function joinSteps(config: ClusterConfig, node: ClusterNode, details: () => Promise<JoinDetails | ControlPlaneJoinDetails>, vipInterface?: string): Step[] {
  const controlPlane = node.role === 'control-plane';
  const vip = controlPlane && config.kubernetes.controlPlaneEndpoint !== undefined;
  return [
    ...(vip ? [kubeVipStep(config, node, vipInterface, 'before join')] : []),
    {
      title: 'kubeadm join',
      async apply(run) {
        if ((await run.read(KUBELET_CONF)) !== undefined) {
          run.out.line(`[${node.name}] already joined (${KUBELET_CONF} exists): kubeadm join skipped`);
          return undefined;
        }
        const join = await details();
        await run.write(JOIN_CONFIG_FILE, joinConfig(config, node, join), { mode: 0o600, secret: true });
        try {
          await run.run(['kubeadm', 'join', `--config=${JOIN_CONFIG_FILE}`]);
        } finally {
          // The config holds the token: it does not outlive the join.
          await run.remove(JOIN_CONFIG_FILE);
        }
        return `joined ${join.apiServerEndpoint}${controlPlane ? ' as a control plane (etcd member, API server)' : ''} (CA pinned to ${join.caCertHash.slice(0, 19)}...)`;
      },
    },
    ...(vip ? [kubeVipRunningStep(config)] : []),
    ...(controlPlane ? [adminKubeconfigStep()] : []),
  ];
}

export const joinScript: NodeScript = {
  name: 'join',
  help: `Usage: hosts/join.mjs --ticket FILE [options]

Joins this worker node to the cluster with kubeadm join (skipped when already
joined), using the join ticket written by hosts/init.mjs on the control-plane
node: a short-lived token and the CA certificate hash, which the join verifies.

  --ticket FILE  the join ticket copied from the control-plane node
${COMMON_HELP}`,
  flags: { ticket: { type: 'string' } },
  planState: 'prepared',
  async body({ run, config, node, flags, now }) {
    const ticketFile = flags.ticket as string | undefined;
    if (!ticketFile && !run.planning) throw new UserError([`--ticket FILE is required: the join ticket written by hosts/init.mjs on the control-plane node (default there: ${DEFAULT_TICKET_FILE})`]);
    await factsForKubeadm(run, config, node, 'worker', 'hosts/join.mjs');
    const details = async () => {
      if (run.planning) {
        return { apiServerEndpoint: `<from the ticket>`, token: '<from the ticket>', caCertHash: 'sha256:<from the ticket>' };
      }
      const file = path.resolve(process.env.INIT_CWD ?? process.cwd(), ticketFile!);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        throw new UserError([`--ticket ${ticketFile}: cannot read it; copy the join ticket from the control-plane node (${DEFAULT_TICKET_FILE})`]);
      }
      return parseTicket(text, ticketFile!, now());
    };
    await run.runSteps('join', joinSteps(config, node, details));
  },
};

/** hosts/join.mjs */
export const main = () => runNodeScript(joinScript);
