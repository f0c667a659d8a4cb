/**
 * The firewall step: open exactly the ports a node's role needs (the
 * default), or disable the firewall, or leave it alone, as `firewall:` says.
 */
import type { ClusterConfig, ClusterNode } from '../config/schema';
import type { OsAdapter } from './os';
import type { NodeRun } from './steps';

export interface FirewallRules {
  /** e.g. '6443/tcp', '30000-32767/udp' */
  ports: string[];
  /** Networks whose traffic is trusted: pods and services, which flannel routes through this node. */
  trustedSources: string[];
}

/** The ports of kubeadm's documentation, flannel's VXLAN, and the ingress controller on the host network. */
export function firewallRules(config: ClusterConfig, node: ClusterNode): FirewallRules {
  const ports = ['10250/tcp', '10256/tcp', '30000-32767/tcp', '30000-32767/udp', '8472/udp'];
  if (node.role === 'control-plane') ports.unshift('6443/tcp', '2379-2380/tcp', '10257/tcp', '10259/tcp');
  if (node.role === 'worker' && config.ingress.exposure === 'hostNetwork') ports.push('80/tcp', '443/tcp', '8443/tcp');
  return { ports, trustedSources: [config.network.podCidr, config.network.serviceCidr] };
}

async function firewalld(run: NodeRun, config: ClusterConfig, node: ClusterNode): Promise<string | undefined> {
  if (config.firewall === 'disable') {
    // Stopped but still enabled would come back at the next boot.
    const enabled = (await run.query(['systemctl', 'is-enabled', 'firewalld'])).stdout.trim() === 'enabled';
    const running = (await run.query(['firewall-cmd', '--state'])).code === 0;
    if (!enabled && !running) return undefined;
    await run.run(['systemctl', 'disable', '--now', 'firewalld']);
    return 'firewalld stopped and disabled (firewall: disable)';
  }
  const state = await run.query(['firewall-cmd', '--state']);
  if (state.code !== 0) return undefined; // not installed or not running: nothing filters
  const rules = firewallRules(config, node);
  const open = (await run.query(['firewall-cmd', '--permanent', '--list-ports'], { mustSucceed: true })).stdout.trim().split(/\s+/);
  const trusted = (await run.query(['firewall-cmd', '--permanent', '--zone=trusted', '--list-sources'], { mustSucceed: true })).stdout.trim().split(/\s+/);
  const ports = rules.ports.filter((p) => !open.includes(p));
  const sources = rules.trustedSources.filter((s) => !trusted.includes(s));
  if (ports.length === 0 && sources.length === 0) return undefined;
  if (ports.length) await run.run(['firewall-cmd', '--permanent', ...ports.map((p) => `--add-port=${p}`)]);
  if (sources.length) await run.run(['firewall-cmd', '--permanent', '--zone=trusted', ...sources.map((s) => `--add-source=${s}`)]);
  await run.run(['firewall-cmd', '--reload']);
  return `firewalld: opened ${[...ports, ...sources.map((s) => `${s} (trusted)`)].join(', ')}`;
}

/** ufw rules as `ufw show added` prints them. */
export function ufwRules(rules: FirewallRules): string[] {
  return [
    ...rules.ports.map((p) => `allow ${p.replace('-', ':')}`),
    ...rules.trustedSources.flatMap((s) => [`allow from ${s}`, `route allow from ${s}`]),
  ];
}

async function ufw(run: NodeRun, config: ClusterConfig, node: ClusterNode): Promise<string | undefined> {
  const status = await run.query(['ufw', 'status']);
  if (status.code !== 0) return undefined; // ufw is not installed
  const active = /Status: active/.test(status.stdout);
  if (config.firewall === 'disable') {
    if (!active) return undefined;
    await run.run(['ufw', 'disable']);
    return 'ufw disabled (firewall: disable)';
  }
  const added = (await run.query(['ufw', 'show', 'added'], { mustSucceed: true })).stdout.split('\n').map((l) => l.trim().replace(/^ufw /, ''));
  const missing = ufwRules(firewallRules(config, node)).filter((rule) => !added.includes(rule));
  for (const rule of missing) await run.run(['ufw', ...rule.split(' ')]);
  return missing.length ? `ufw${active ? '' : ' (inactive; rules apply when enabled)'}: added ${missing.join(', ')}` : undefined;
}

export async function configureFirewall(run: NodeRun, os: OsAdapter, config: ClusterConfig, node: ClusterNode): Promise<string | undefined> {
  if (config.firewall === 'leave') return undefined;
  return os.firewall === 'firewalld' ? firewalld(run, config, node) : ufw(run, config, node);
}
