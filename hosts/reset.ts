/**
 * Undo: `kubeadm reset`, then what it leaves behind (CNI config, iptables
 * and IPVS rules, the flannel and bridge interfaces, kubeconfigs, join
 * files); with --undo-prep also the node preparation.
 */
import type { ClusterConfig, ClusterNode } from '../config/schema';
import { firewallRules, ufwRules } from './firewall';
import { JOIN_CONFIG_FILE, INIT_CONFIG_FILE, ROOT_KUBECONFIG } from './kubeadm';
import { OS_ADAPTERS, type OsFamily } from './os';
import {
  APT_KEYRING,
  APT_SOURCE,
  fstabWithSwapRestored,
  hostsFileWithoutBlock,
  MODULES_FILE,
  selinuxRestored,
  SYSCTL_FILE,
  YUM_DOCKER_REPO,
  YUM_KUBERNETES_REPO,
} from './render';
import type { NodeRun, Step } from './steps';

const listed = (items: string[]) => (items.length ? items.join('; ') : undefined);
const OURS = /KUBE-|FLANNEL|CNI-/;

export function resetSteps(ticketFile: string): Step[] {
  return [
    {
      title: 'kubeadm reset',
      async apply(run) {
        const installed = (await run.query(['kubeadm', 'version', '-o', 'short'])).code === 0;
        // kubeadm reset leaves an empty manifests folder behind: only files mean a configured node.
        const configured = (await run.host.list('/etc/kubernetes')).some((f) => f.endsWith('.conf'))
          || (await run.host.list('/etc/kubernetes/manifests')).length > 0;
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
        for (const link of ['cni0', 'flannel.1']) {
          if ((await run.read(`/sys/class/net/${link}/address`)) !== undefined) {
            await run.run(['ip', 'link', 'delete', link]);
            done.push(`${link} deleted`);
          }
        }
        return listed(done);
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
        const done = [];
        for (const file of [APT_SOURCE, APT_KEYRING, YUM_KUBERNETES_REPO, YUM_DOCKER_REPO]) if (await run.remove(file)) done.push(`removed ${file}`);
        if (family !== 'el9') {
          const held = (await run.query(['apt-mark', 'showhold'])).stdout.split('\n').map((l) => l.trim());
          const ours = ['kubelet', 'kubeadm', 'kubectl'].filter((p) => held.includes(p));
          if (ours.length) {
            await run.run(['apt-mark', 'unhold', ...ours]);
            done.push(`unheld ${ours.join(', ')}`);
          }
        }
        return listed(done);
      },
    },
    {
      title: 'firewall',
      async apply(run) {
        if (config.firewall !== 'open') return undefined;
        const rules = firewallRules(config, node);
        if (os.firewall === 'firewalld') {
          if ((await run.query(['firewall-cmd', '--state'])).code !== 0) return undefined;
          const open = (await run.query(['firewall-cmd', '--permanent', '--list-ports'])).stdout.trim().split(/\s+/);
          const trusted = (await run.query(['firewall-cmd', '--permanent', '--zone=trusted', '--list-sources'])).stdout.trim().split(/\s+/);
          const ports = rules.ports.filter((p) => open.includes(p));
          const sources = rules.trustedSources.filter((s) => trusted.includes(s));
          if (!ports.length && !sources.length) return undefined;
          if (ports.length) await run.run(['firewall-cmd', '--permanent', ...ports.map((p) => `--remove-port=${p}`)]);
          if (sources.length) await run.run(['firewall-cmd', '--permanent', '--zone=trusted', ...sources.map((s) => `--remove-source=${s}`)]);
          await run.run(['firewall-cmd', '--reload']);
          return `firewalld: closed ${[...ports, ...sources].join(', ')}`;
        }
        if ((await run.query(['ufw', 'status'])).code !== 0) return undefined;
        const added = (await run.query(['ufw', 'show', 'added'])).stdout.split('\n').map((l) => l.trim().replace(/^ufw /, ''));
        const ours = ufwRules(rules).filter((rule) => added.includes(rule));
        for (const rule of ours) {
          const words = rule.split(' ');
          await run.run(words[0] === 'route' ? ['ufw', 'route', 'delete', ...words.slice(1)] : ['ufw', 'delete', ...words]);
        }
        return ours.length ? `ufw: deleted ${ours.join(', ')}` : undefined;
      },
    },
  ];
}
