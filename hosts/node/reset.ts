/**
 * hosts/reset.mjs, the undo: `kubeadm reset`, then what it leaves behind
 * (CNI config, iptables and IPVS rules, the flannel and bridge interfaces,
 * kubeconfigs, join files): resetSteps(); with --undo-prep also the node
 * preparation, step by step in prep's order: undoPrepSteps().
 */
import { UserError } from '../../config/errors';
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import { type NodeRun, type Step, summarize } from '../engine/steps';
import { HELD_PACKAGES } from '../os/adapter';
import { OS_ADAPTERS } from '../os/adapters';
import type { OsFamily } from '../os/release';
import { COMMON_HELP, type NodeScript, runNodeScript } from './cli';
import { gatherFacts, parseInterfaceOf, rootProblem } from './facts';
import { fstabWithSwapRestored, hostsFileWithoutBlock, MODULES_FILE, selinuxRestored, SYSCTL_FILE } from './files';
import { closeFirewall } from './firewall';
import { DEFAULT_TICKET_FILE, INIT_CONFIG_FILE, JOIN_CONFIG_FILE, ROOT_KUBECONFIG } from './kubeadm';
import { prepSteps } from './prep';
const OURS = /KUBE-|FLANNEL|CNI-/;

/** `virtualIp`: on a control plane, kubernetes.controlPlaneEndpoint, taken off its interface if kube-vip left it there. */
export function resetSteps(ticketFile: string, virtualIp?: string): Step[] {
  return [
    {
      title: 'kubeadm reset',
      async apply(run) {
        const installed = (await run.query(['kubeadm', 'version', '-o', 'short'])).code === 0;
        // kubeadm reset leaves an empty manifests folder behind, and the kubelet package ships one kept by a
        // dotfile (.kubelet-keep): only a kubeconfig or a static pod manifest means a configured node.
        const configured = (await run.host.list('/etc/kubernetes')).some((f) => f.endsWith('.conf'))
          || (await run.host.list('/etc/kubernetes/manifests')).some((f) => !f.startsWith('.'));
        if (!installed || !configured) return undefined;
        await run.run(['kubeadm', 'reset', '--force']);
        return 'kubeadm reset done';
      },
    },
    {
      title: 'leftovers',
      async apply(run) {
        const removed: string[] = [];
        for (const name of await run.host.list('/etc/cni/net.d')) {
          if (await run.remove(`/etc/cni/net.d/${name}`)) removed.push(`/etc/cni/net.d/${name}`);
        }
        for (const file of ['/var/lib/cni', '/run/flannel', ROOT_KUBECONFIG, INIT_CONFIG_FILE, JOIN_CONFIG_FILE, ticketFile]) {
          if (await run.remove(file)) removed.push(file);
        }
        return removed.length ? `removed ${removed.join(', ')}` : undefined;
      },
    },
    {
      title: 'network rules and interfaces',
      async apply(run) {
        const done: string[] = [];
        // Only the chains of kube-proxy, flannel and the CNI plugins, and the jumps to them: flushing
        // whole tables would also drop the firewall's own rules (and with ufw, the SSH session).
        for (const family of ['iptables', 'ip6tables']) {
          const rules = await run.query([`${family}-save`]);
          if (rules.code !== 0 || !OURS.test(rules.stdout)) continue;
          const kept = rules.stdout.split('\n').filter((line) => !OURS.test(line)).join('\n');
          await run.run([`${family}-restore`], { input: kept });
          done.push(`${family}: KUBE-, FLANNEL and CNI- rules removed`);
        }
        const ipvs = await run.query(['ipvsadm', '-Ln']);
        if (ipvs.code === 0 && /->/.test(ipvs.stdout)) {
          await run.run(['ipvsadm', '--clear']);
          done.push('IPVS table cleared');
        }
        // kube-vip gives the address up when it stops; one killed instead would leave it announced here.
        if (virtualIp) {
          const held = parseInterfaceOf((await run.query(['ip', '-o', '-4', 'addr', 'show'])).stdout, virtualIp);
          if (held) {
            await run.run(['ip', 'addr', 'delete', `${virtualIp}/${held.prefix}`, 'dev', held.name]);
            done.push(`the virtual IP ${virtualIp} taken off ${held.name}`);
          }
        }
        for (const link of ['cni0', 'flannel.1']) {
          if ((await run.read(`/sys/class/net/${link}/address`)) !== undefined) {
            await run.run(['ip', 'link', 'delete', link]);
            done.push(`${link} deleted`);
          }
        }
        return summarize(done);
      },
    },
  ];
}

/** Reverses hosts/prep.mjs, except packages (unheld, left installed) and containerd (left configured). */
export function undoPrepSteps(config: ClusterConfig, node: ClusterNode, family: OsFamily): Step[] {
  const os = OS_ADAPTERS[family];
  const restore = (file: string, transform: (text: string) => string) => async (run: NodeRun) => {
    const current = await run.read(file);
    return current !== undefined && (await run.write(file, transform(current))) ? `${file} restored` : undefined;
  };
  return [
    { title: '/etc/hosts', apply: restore('/etc/hosts', hostsFileWithoutBlock) },
    {
      title: 'swap',
      async apply(run) {
        const restored = await restore('/etc/fstab', fstabWithSwapRestored)(run);
        if (!restored) return undefined;
        await run.run(['swapon', '-a']);
        return `${restored}; swap on`;
      },
    },
    { title: 'SELinux', apply: restore('/etc/selinux/config', selinuxRestored) },
    {
      title: 'kernel settings',
      async apply(run) {
        const removed = [];
        for (const file of [MODULES_FILE, SYSCTL_FILE]) if (await run.remove(file)) removed.push(file);
        return removed.length ? `removed ${removed.join(', ')} (live values stay until reboot)` : undefined;
      },
    },
    {
      title: 'package repositories and holds',
      async apply(run) {
        const done = await os.removeRepositories(run);
        const released = await os.unhold(run, [...HELD_PACKAGES, ...os.containerdPackages]);
        if (released.length) done.push(`unheld ${released.join(', ')}`);
        return summarize(done);
      },
    },
    { title: 'firewall', apply: (run) => closeFirewall(run, os, config, node) },
  ];
}

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
    const virtualIp = node.role === 'control-plane' ? config.kubernetes.controlPlaneEndpoint : undefined;
    await run.runSteps('reset', resetSteps((flags.ticket as string | undefined) ?? DEFAULT_TICKET_FILE, virtualIp));
    if (flags['undo-prep']) await run.runSteps('reset --undo-prep', undoPrepSteps(config, node, facts.family));
  },
};

/** hosts/reset.mjs */
export const main = () => runNodeScript(resetScript);
