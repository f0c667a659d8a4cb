/**
 * The firewall: open exactly the ports a node's role needs (the default),
 * or disable the firewall, or leave it alone, as `firewall:` says; and the
 * undo, which closes what was opened.
 */
import type { ClusterConfig, ClusterNode } from '../../config/schema';
import type { NodeRun } from '../engine/steps';
import type { OsAdapter } from '../os/adapter';
import { openPorts } from './ports';

export interface FirewallRules {
  /** e.g. '6443/tcp', '30000-32767/udp' */
  ports: string[];
  /** Networks whose traffic is trusted: the pods', which flannel routes through this node. */
  trustedSources: string[];
}

export function firewallRules(config: ClusterConfig, node: ClusterNode): FirewallRules {
  return { ports: openPorts(config, node), trustedSources: [config.network.podCidr] };
}

/**
 * Sources earlier versions trusted and this one does not: the service
 * network, which no packet carries as its source (a ClusterIP is only ever
 * a destination, rewritten by kube-proxy). prep removes them; so does the undo.
 */
function retiredSources(config: ClusterConfig): string[] {
  return [config.network.serviceCidr];
}

/** ufw rules as `ufw show added` prints them. */
export function ufwRules(rules: FirewallRules): string[] {
  return [...rules.ports.map((p) => `allow ${p.replace('-', ':')}`), ...ufwSourceRules(rules.trustedSources)];
}

function ufwSourceRules(sources: string[]): string[] {
  return sources.flatMap((s) => [`allow from ${s}`, `route allow from ${s}`]);
}

/** Deletes ufw rules as `ufw show added` prints them. */
async function deleteUfwRules(run: NodeRun, rules: string[]): Promise<void> {
  for (const rule of rules) {
    const words = rule.split(' ');
    await run.run(words[0] === 'route' ? ['ufw', 'route', 'delete', ...words.slice(1)] : ['ufw', 'delete', ...words]);
  }
}

/** What firewalld has of the rules: ports open and sources trusted, permanently. */
async function firewalldState(run: NodeRun, mustSucceed: boolean): Promise<{ open: string[]; trusted: string[] }> {
  const list = async (args: string[]) => (await run.query(['firewall-cmd', '--permanent', ...args], { mustSucceed })).stdout.trim().split(/\s+/);
  return { open: await list(['--list-ports']), trusted: await list(['--zone=trusted', '--list-sources']) };
}

/** `ufw show added`, one rule per line without the leading `ufw`. */
async function ufwAdded(run: NodeRun, mustSucceed: boolean): Promise<string[]> {
  return (await run.query(['ufw', 'show', 'added'], { mustSucceed })).stdout.split('\n').map((l) => l.trim().replace(/^ufw /, ''));
}

async function openFirewalld(run: NodeRun, config: ClusterConfig, node: ClusterNode): Promise<string | undefined> {
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
  const { open, trusted } = await firewalldState(run, true);
  const ports = rules.ports.filter((p) => !open.includes(p));
  const sources = rules.trustedSources.filter((s) => !trusted.includes(s));
  const retired = retiredSources(config).filter((s) => trusted.includes(s));
  if (ports.length === 0 && sources.length === 0 && retired.length === 0) return undefined;
  if (ports.length) await run.run(['firewall-cmd', '--permanent', ...ports.map((p) => `--add-port=${p}`)]);
  if (sources.length) await run.run(['firewall-cmd', '--permanent', '--zone=trusted', ...sources.map((s) => `--add-source=${s}`)]);
  if (retired.length) await run.run(['firewall-cmd', '--permanent', '--zone=trusted', ...retired.map((s) => `--remove-source=${s}`)]);
  await run.run(['firewall-cmd', '--reload']);
  const opened = [...ports, ...sources.map((s) => `${s} (trusted)`)];
  return `firewalld: ${[opened.length ? `opened ${opened.join(', ')}` : '', retired.length ? `no longer trusted ${retired.join(', ')}` : ''].filter(Boolean).join('; ')}`;
}

async function openUfw(run: NodeRun, config: ClusterConfig, node: ClusterNode): Promise<string | undefined> {
  const status = await run.query(['ufw', 'status']);
  if (status.code !== 0) return undefined; // ufw is not installed
  const active = /Status: active/.test(status.stdout);
  if (config.firewall === 'disable') {
    if (!active) return undefined;
    await run.run(['ufw', 'disable']);
    return 'ufw disabled (firewall: disable)';
  }
  const added = await ufwAdded(run, true);
  const missing = ufwRules(firewallRules(config, node)).filter((rule) => !added.includes(rule));
  const retired = ufwSourceRules(retiredSources(config)).filter((rule) => added.includes(rule));
  for (const rule of missing) await run.run(['ufw', ...rule.split(' ')]);
  await deleteUfwRules(run, retired);
  if (!missing.length && !retired.length) return undefined;
  return `ufw${active ? '' : ' (inactive; rules apply when enabled)'}: ${[missing.length ? `added ${missing.join(', ')}` : '', retired.length ? `deleted ${retired.join(', ')}` : ''].filter(Boolean).join('; ')}`;
}

/** prep: the ports of the node's role open (or the firewall disabled, or left alone). */
export async function configureFirewall(run: NodeRun, os: OsAdapter, config: ClusterConfig, node: ClusterNode): Promise<string | undefined> {
  if (config.firewall === 'leave') return undefined;
  return os.firewall === 'firewalld' ? openFirewalld(run, config, node) : openUfw(run, config, node);
}

/** reset --undo-prep: closes what configureFirewall opened (a disabled firewall stays disabled). */
export async function closeFirewall(run: NodeRun, os: OsAdapter, config: ClusterConfig, node: ClusterNode): Promise<string | undefined> {
  if (config.firewall !== 'open') return undefined;
  const rules = firewallRules(config, node);
  rules.trustedSources.push(...retiredSources(config));
  if (os.firewall === 'firewalld') {
    if ((await run.query(['firewall-cmd', '--state'])).code !== 0) return undefined;
    const { open, trusted } = await firewalldState(run, false);
    const ports = rules.ports.filter((p) => open.includes(p));
    const sources = rules.trustedSources.filter((s) => trusted.includes(s));
    if (!ports.length && !sources.length) return undefined;
    if (ports.length) await run.run(['firewall-cmd', '--permanent', ...ports.map((p) => `--remove-port=${p}`)]);
    if (sources.length) await run.run(['firewall-cmd', '--permanent', '--zone=trusted', ...sources.map((s) => `--remove-source=${s}`)]);
    await run.run(['firewall-cmd', '--reload']);
    return `firewalld: closed ${[...ports, ...sources].join(', ')}`;
  }
  if ((await run.query(['ufw', 'status'])).code !== 0) return undefined;
  const added = await ufwAdded(run, false);
  const ours = ufwRules(rules).filter((rule) => added.includes(rule));
  await deleteUfwRules(run, ours);
  return ours.length ? `ufw: deleted ${ours.join(', ')}` : undefined;
}
