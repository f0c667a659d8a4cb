/**
 * `scripts/bootstrap.mjs kubeconfig`: the cluster's admin kubeconfig
 * (/etc/kubernetes/admin.conf on the control plane) onto this machine, for
 * kubectl here. Written with mode 0600 and never printed; a different file
 * already at the output path is kept as <file>.bak-<time>. Its server is the
 * API server's address (the virtual IP of kubernetes.controlPlaneEndpoint, or
 * the control plane's), which the API server's certificate covers; where
 * this machine reaches the API server another way (an SSH tunnel, a NAT
 * address), --server says how, and the certificate is then checked for the
 * name `kubernetes`, which kubeadm always puts in it.
 */
import { statSync } from 'node:fs';
import { createConnection } from 'node:net';
import * as path from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { UserError } from '../../config/errors';
import { apiServerHost, controlPlane } from '../../config/nodes';
import type { ClusterConfig } from '../../config/schema';
import { LocalHost } from '../engine/host';
import { SshHost } from '../engine/ssh';
import { compactTimestamp } from '../engine/time';
import { ADMIN_CONF, API_SERVER_PORT } from '../node/kubeadm';
import { connect } from './connect';

export const DEFAULT_KUBECONFIG = 'kubeconfig';
/** A DNS name kubeadm puts in every API server certificate. */
export const API_SERVER_NAME = 'kubernetes';

export interface KubeconfigOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  sshConfig?: string;
  output?: string;
  server?: string;
  print(line: string): void;
}

/** --server: an https URL with a host (and a port, else 443), nothing else. */
function parseServer(value: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || url.protocol !== 'https:' || !url.hostname || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) {
    throw new UserError([`--server ${value}: must be an https URL of a host and port, e.g. https://127.0.0.1:${API_SERVER_PORT}`]);
  }
  return url;
}

/** Where the file goes: not a folder, in a folder that exists. */
function outputPath(cwd: string, output: string | undefined): string {
  const file = path.resolve(cwd, output ?? DEFAULT_KUBECONFIG);
  const isDir = (p: string) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return undefined;
    }
  };
  if (isDir(file)) throw new UserError([`--output ${output}: is a folder; name a file, e.g. --output ${path.join(output ?? '.', DEFAULT_KUBECONFIG)}`]);
  if (!isDir(path.dirname(file))) throw new UserError([`--output ${output}: the folder ${path.dirname(file)} does not exist`]);
  return file;
}

/** Whether something accepts a TCP connection at host:port within the time. */
function answers(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** admin.conf with the server this machine uses; refuses a file that is not a kubeconfig. */
export function withServer(text: string, server: URL | undefined, cpAddress: string, node: string): { yaml: string; server: string } {
  const doc = parseDocument(text);
  const clusters = doc.get('clusters');
  const problem = `${node}: ${ADMIN_CONF} is not a kubeconfig with a cluster server; run ${'scripts/bootstrap.mjs'} again to repair the control plane`;
  if (doc.errors.length || doc.get('kind') !== 'Config' || !isSeq(clusters) || !clusters.items.length) throw new UserError([problem]);
  let current = '';
  for (const entry of clusters.items) {
    const cluster = isMap(entry) ? entry.get('cluster') : undefined;
    if (!isMap(cluster) || typeof cluster.get('server') !== 'string') throw new UserError([problem]);
    if (server) {
      cluster.set('server', server.origin);
      if (server.hostname !== cpAddress) cluster.set('tls-server-name', API_SERVER_NAME);
    }
    current ||= cluster.get('server') as string;
  }
  // Without --server, admin.conf byte for byte.
  return { yaml: server ? doc.toString() : text, server: current };
}

export async function fetchKubeconfig(config: ClusterConfig, options: KubeconfigOptions): Promise<void> {
  const server = options.server === undefined ? undefined : parseServer(options.server);
  const file = outputPath(options.cwd, options.output);
  const cp = controlPlane(config);
  const [target] = await connect(config, {
    planning: false, env: options.env, sshConfig: options.sshConfig, progress: () => undefined, concurrency: 1, nodes: [cp],
  });
  let text: string | undefined;
  try {
    text = await target.host.read(ADMIN_CONF);
  } finally {
    await SshHost.closeAll();
  }
  if (text === undefined) throw new UserError([`${cp.name} has no ${ADMIN_CONF}: the control plane is not initialised yet; run scripts/bootstrap.mjs first`]);
  const kubeconfig = withServer(text, server, cp.address, cp.name);

  // This machine's file: the same content is left alone, a different one is kept.
  const here = new LocalHost('/');
  const shown = path.relative(options.cwd, file) || file;
  const existing = await here.read(file);
  if (existing === kubeconfig.yaml) {
    if ((await here.mode(file)) !== 0o600) await here.write(file, kubeconfig.yaml, 0o600);
    options.print(`${shown} is already the admin kubeconfig of ${cp.name} (mode 0600)`);
  } else {
    const backup = existing === undefined ? undefined : `${file}.bak-${compactTimestamp(new Date())}`;
    if (backup) await here.write(backup, existing!, 0o600);
    await here.write(file, kubeconfig.yaml, 0o600);
    options.print(`wrote ${shown}: the admin kubeconfig of ${cp.name} (cluster-admin credentials; mode 0600, keep it private)${backup ? `; the previous file is kept as ${path.relative(options.cwd, backup)}` : ''}`);
  }
  const url = new URL(kubeconfig.server);
  const port = Number(url.port || 443);
  if (await answers(url.hostname, port)) {
    options.print(`server ${kubeconfig.server} answers from this machine`);
  } else {
    const ssh = `${cp.ssh.user}@${cp.ssh.host ?? cp.address}${cp.ssh.port === 22 ? '' : ` -p ${cp.ssh.port}`}`;
    options.print(`warning: server ${kubeconfig.server} does not answer from this machine; if the nodes are reached another way, tunnel it (ssh -N -L ${API_SERVER_PORT}:${apiServerHost(config)}:${API_SERVER_PORT} ${ssh}) and run this again with --server https://127.0.0.1:${API_SERVER_PORT}`);
  }
  options.print(`next: KUBECONFIG=${shown.includes('/') ? shown : `./${shown}`} kubectl get nodes`);
}
