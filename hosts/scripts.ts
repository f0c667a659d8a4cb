/** The four node scripts: what each one checks and which steps it runs. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../config/errors';
import type { ClusterConfig, ClusterNode } from '../config/schema';
import { COMMON_HELP, type NodeScript } from './cli';
import { addressProblem, describeFacts, gatherFacts, type NodeFacts, rootProblem } from './facts';
import { DEFAULT_TICKET_FILE, initSteps, joinSteps, parseTicket, ticketStep } from './kubeadm';
import { prepareNode, prepSteps } from './prep';
import { resetSteps, undoPrepSteps } from './reset';
import type { NodeRun } from './steps';

/** Facts, and the checks init and join need: root, the right role, this machine's address, a prepared node. */
async function checkPrepared(run: NodeRun, config: ClusterConfig, node: ClusterNode, role: ClusterNode['role'], script: string): Promise<NodeFacts> {
  const facts = await gatherFacts(run, config, node);
  run.out.line(`[${node.name}] facts: ${describeFacts(facts)}`);
  const problems: string[] = [];
  if (node.role !== role) problems.push(`${node.name}: ${script} is for ${role} nodes; this node's role in the cluster config is ${node.role}`);
  problems.push(...rootProblem(node, facts), ...addressProblem(node, facts));
  if ((await run.query(['kubeadm', 'version', '-o', 'short'])).code !== 0) problems.push(`${node.name}: kubeadm is not installed: run hosts/prep.mjs first`);
  if (problems.length) throw new UserError(problems);
  return facts;
}

export const prepScript: NodeScript = {
  name: 'prep',
  help: `Usage: hosts/prep.mjs [options]

Prepares this node for kubeadm, as cluster.yaml describes it: hostname, /etc/hosts,
swap off (now and in /etc/fstab), SELinux permissive (EL), firewall ports,
kernel modules and sysctls (persisted), containerd with SystemdCgroup and the
mirror's pause image, kubelet/kubeadm/kubectl pinned to kubernetes.version and
held, kubelet enabled. Checks the node first and changes nothing if it is unfit.
Run it again at any time: it changes only what differs.

${COMMON_HELP}`,
  flags: {},
  planState: 'fresh',
  async body({ run, config, node }) {
    await prepareNode(run, config, node);
  },
};

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
    await checkPrepared(run, config, node, 'control-plane', 'hosts/init.mjs');
    await run.runSteps('init', [...initSteps(config, node), ticketStep(config, (flags.ticket as string | undefined) ?? DEFAULT_TICKET_FILE, now)]);
  },
};

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
    await checkPrepared(run, config, node, 'worker', 'hosts/join.mjs');
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
    await run.runSteps('join', joinSteps(node, details));
  },
};

export const resetScript: NodeScript = {
  name: 'reset',
  help: `Usage: hosts/reset.mjs [--undo-prep] [options]

Takes this node out of the cluster: kubeadm reset, then what it leaves behind
(CNI config, iptables/IPVS rules, cni0 and flannel.1, kubeconfigs, join files).

  --undo-prep    also undo hosts/prep.mjs: /etc/hosts block, swap back on and in
                 /etc/fstab, SELinux config, kernel module and sysctl files,
                 package repositories and holds, firewall rules (packages stay
                 installed; containerd stays configured)
  --ticket FILE  a join ticket to delete too (default: ${DEFAULT_TICKET_FILE})
${COMMON_HELP}`,
  flags: { 'undo-prep': { type: 'boolean' }, ticket: { type: 'string' } },
  planState: 'in-cluster',
  async body({ run, config, node, flags }) {
    const facts = await gatherFacts(run, config, node);
    const notRoot = rootProblem(node, facts);
    if (notRoot.length) throw new UserError(notRoot);
    if (run.planning && flags['undo-prep']) {
      // Plan the undo against a node that prep has prepared: prep's plan, silently, on the model.
      await run.quietly(() => run.runSteps('prep', prepSteps(config, node, facts)));
    }
    await run.runSteps('reset', resetSteps((flags.ticket as string | undefined) ?? DEFAULT_TICKET_FILE));
    if (flags['undo-prep']) await run.runSteps('reset --undo-prep', undoPrepSteps(config, node, facts.family));
  },
};
