/**
 * hosts/init.mjs, join.mjs and reset.mjs against fake hosts that share one
 * fake cluster (its CA and bootstrap tokens). Their dry-run plans are in
 * dry-run-plans.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { caCertHash } from '../hosts/node/kubeadm';
import { Sandbox } from './fakehost/sandbox';

const TICKET = '/root/kubeadm-join-ticket.yaml';

/** Copies the ticket from the control plane's sandbox to a file the worker's user passes with --ticket. */
function handOver(cp: Sandbox): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'ticket-')), 'ticket.yaml');
  writeFileSync(file, cp.readFile(TICKET)!);
  return file;
}

describe('a control plane and a worker', () => {
  const cp = new Sandbox('el9');
  const worker = new Sandbox('debian', { address: '192.168.83.134', cluster: cp.cluster });
  expect(cp.run('prep').code).toBe(0);
  expect(worker.run('prep').code).toBe(0);
  cp.clearCommands();
  const init = cp.run('init');
  const ticketFile = handOver(cp);
  const join = worker.run('join', ['--ticket', ticketFile]);

  test('init runs kubeadm init with the rendered config', () => {
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(cp.commands()).toContainEqual(['kubeadm', 'init', '--config=/etc/kubernetes/kubeadm-init.yaml']);
    const [initConfiguration, clusterConfiguration] = cp.fakeState<any[]>('kubeadm-init.json');
    expect(initConfiguration.localAPIEndpoint.advertiseAddress).toBe('192.168.83.133');
    expect(clusterConfiguration.networking.podSubnet).toBe('10.244.0.0/16');
  });

  test('root gets the admin kubeconfig with mode 0600', () => {
    expect(cp.readFile('/root/.kube/config')).toBe(cp.readFile('/etc/kubernetes/admin.conf'));
    expect(cp.mode('/root/.kube/config')).toBe(0o600);
  });

  test('the join ticket: mode 0600, a fresh 15-minute token, the CA hash of the cluster CA', () => {
    expect(cp.mode(TICKET)).toBe(0o600);
    const ticket = parse(cp.readFile(TICKET)!);
    expect(ticket.apiServerEndpoint).toBe('192.168.83.133:6443');
    expect(ticket.caCertHash).toBe(caCertHash(cp.readFile('/etc/kubernetes/pki/ca.crt')!));
    expect(cp.commands()).toContainEqual(['kubeadm', 'token', 'create', '--ttl=15m0s', '--description=join a worker (hosts/join.mjs)']);
    const minutesLeft = (Date.parse(ticket.expires) - Date.now()) / 60_000;
    expect(minutesLeft).toBeGreaterThan(13);
    expect(minutesLeft).toBeLessThanOrEqual(15);
  });

  test('join pins the CA hash, uses the ticket\'s token and removes its config afterwards', () => {
    expect(join.stderr).toBe('');
    expect(join.code).toBe(0);
    const ticket = parse(cp.readFile(TICKET)!);
    const joined = worker.fakeState<any>('kubeadm-join.json');
    expect(joined.discovery.bootstrapToken).toEqual({ apiServerEndpoint: '192.168.83.133:6443', token: ticket.token, caCertHashes: [ticket.caCertHash] });
    expect(joined.nodeRegistration.kubeletExtraArgs).toEqual([{ name: 'node-ip', value: '192.168.83.134' }]);
    expect(worker.readFile('/etc/kubernetes/kubeadm-join.yaml')).toBeUndefined();
  });

  test('no token, key or private key reaches the output or the log', () => {
    const ticket = parse(cp.readFile(TICKET)!);
    const everything = [init.stdout, init.stderr, join.stdout, join.stderr, cp.readFile('/var/log/kube-hosts.log'), worker.readFile('/var/log/kube-hosts.log')].join('\n');
    const log = cp.readFile('/var/log/kube-hosts.log')!;
    expect(log).toContain('join ticket');
    // The tokens did pass through the output path: kubeadm init prints its join command, and
    // kubeadm token create prints the ticket's token; the log keeps what they printed, masked.
    expect(log).toMatch(/ > kubeadm join 192\.168\.83\.133:6443 --token [a-z0-9]{6}\.\*{16} /);
    expect(log).toContain(` > ${ticket.token.split('.')[0]}.****************`);
    expect(everything).not.toContain(ticket.token);
    expect(everything).not.toContain(ticket.token.split('.')[1]);
    expect(everything).not.toMatch(/PRIVATE KEY|client-key-data: (?!\[redacted\])/);
  });

  test('a second init and join say they are done and skip kubeadm', () => {
    cp.clearCommands();
    worker.clearCommands();
    const again = cp.run('init');
    expect(again.stdout).toContain('[k8s-node1] already initialised (/etc/kubernetes/admin.conf exists, the API server is ready): kubeadm init skipped');
    expect(cp.commands().map((c) => c.slice(0, 2).join(' '))).not.toContain('kubeadm init');
    const rejoin = worker.run('join', ['--ticket', handOver(cp)]);
    expect(rejoin.stdout).toContain('[k8s-node2] already joined (/etc/kubernetes/kubelet.conf exists): kubeadm join skipped');
    expect(worker.mutatingCommands()).toEqual([]);
  });

  test('reset removes what kubeadm leaves behind; --undo-prep restores the prep edits', () => {
    worker.writeFile('/etc/cni/net.d/10-flannel.conflist', '{}');
    worker.writeFile('/sys/class/net/cni0/address', '52:54:00:aa:bb:cc\n');
    worker.writeFile('/sys/class/net/flannel.1/address', '52:54:00:aa:bb:cd\n');
    const rules = '*filter\n:INPUT DROP [0:0]\n:ufw-user-input - [0:0]\n-A INPUT -j ufw-user-input\n:KUBE-FIREWALL - [0:0]\n-A INPUT -j KUBE-FIREWALL\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:FLANNEL-POSTRTG - [0:0]\nCOMMIT\n';
    worker.writeFile('/.fake/iptables', rules);
    worker.writeFile('/.fake/ip6tables', rules.replace(/ufw-/g, 'ufw6-'));
    const reset = worker.run('reset', ['--undo-prep']);
    expect(reset.code).toBe(0);
    expect(worker.readFile('/etc/kubernetes/kubelet.conf')).toBeUndefined();
    expect(worker.readFile('/etc/cni/net.d/10-flannel.conflist')).toBeUndefined();
    expect(worker.readFile('/sys/class/net/cni0/address')).toBeUndefined();
    // flannel's VXLAN device too: left behind, it keeps the old VTEP address and a rejoin's flannel cannot take it.
    expect(worker.readFile('/sys/class/net/flannel.1/address')).toBeUndefined();
    expect(reset.stdout).toMatch(/cni0 deleted; flannel\.1 deleted/);
    // Only the Kubernetes and flannel rules go; the firewall's own rules stay.
    expect(worker.readFile('/.fake/iptables')).toBe('*filter\n:INPUT DROP [0:0]\n:ufw-user-input - [0:0]\n-A INPUT -j ufw-user-input\nCOMMIT\n*nat\nCOMMIT\n');
    // The same for IPv6: kube-proxy and flannel leave KUBE- and FLANNEL rules in ip6tables too.
    expect(worker.readFile('/.fake/ip6tables')).toBe('*filter\n:INPUT DROP [0:0]\n:ufw6-user-input - [0:0]\n-A INPUT -j ufw6-user-input\nCOMMIT\n*nat\nCOMMIT\n');
    expect(worker.readFile('/etc/fstab')).toContain('\nUUID=0b7c-swap    none  swap  defaults  0 0');
    expect(worker.readFile('/proc/swaps')!.trim().split('\n')).toHaveLength(2);
    expect(worker.readFile('/etc/hosts')).not.toContain('k8s-node');
    expect(worker.fakeState<string[]>('holds.json')).toEqual([]);
    worker.clearCommands();
    expect(worker.run('reset', ['--undo-prep']).stdout).toContain('reset --undo-prep: nothing changed');
    expect(worker.mutatingCommands()).toEqual([]);
  });
});

describe('reset on a node that was prepared but never joined', () => {
  test('runs no kubeadm reset: the kubelet package\'s .kubelet-keep does not make a configured node', () => {
    const node = new Sandbox('debian', { address: '192.168.83.134' });
    expect(node.run('prep').code).toBe(0);
    expect(node.readFile('/etc/kubernetes/manifests/.kubelet-keep')).toBe('');
    node.clearCommands();
    const reset = node.run('reset');
    expect(reset.code).toBe(0);
    expect(node.commands().filter((c) => c[0] === 'kubeadm' && c[1] === 'reset')).toEqual([]);
    expect(reset.stdout).toContain('[k8s-node2] kubeadm reset: ok, nothing to change');
  });
});

describe('joining with a bad or stale ticket', () => {
  const cp = new Sandbox('el9');
  const worker = new Sandbox('el9', { address: '192.168.83.135', cluster: cp.cluster });
  cp.run('prep');
  cp.run('init');
  worker.run('prep');

  test('an expired ticket is refused before kubeadm runs', () => {
    const ticket = parse(cp.readFile(TICKET)!);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'ticket-')), 'old.yaml');
    writeFileSync(file, readFileSync(handOver(cp), 'utf8').replace(/expires: .*/g, 'expires: 2020-01-01T00:00:00Z'));
    worker.clearCommands();
    const result = worker.run('join', ['--ticket', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/old\.yaml: the join ticket expired at 2020-01-01T00:00:00Z; make a new one with hosts\/init\.mjs on the control-plane node\n$/);
    expect(worker.mutatingCommands()).toEqual([]);
    expect(result.stderr + result.stdout).not.toContain(ticket.token);
  });

  test('a ticket for another cluster fails on the CA hash, with the token masked', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'ticket-')), 'other.yaml');
    writeFileSync(file, readFileSync(handOver(cp), 'utf8').replace(/caCertHash: sha256:\w+/, `caCertHash: sha256:${'0'.repeat(64)}`));
    const token = parse(readFileSync(file, 'utf8')).token;
    const result = worker.run('join', ['--ticket', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^k8s-node3: step "kubeadm join" failed: `kubeadm join --config=\/etc\/kubernetes\/kubeadm-join\.yaml` exited 1: .*none of the public keys/);
    expect(result.stderr).not.toContain(token);
    expect(worker.readFile('/etc/kubernetes/kubeadm-join.yaml')).toBeUndefined();
  });

  test('join without --ticket and init on a worker are one-line errors', () => {
    expect(worker.run('join').stderr).toMatch(/^--ticket FILE is required: the join ticket written by hosts\/init\.mjs/);
    const wrongRole = worker.run('init');
    expect(wrongRole.code).toBe(1);
    expect(wrongRole.stderr).toBe('k8s-node3: hosts/init.mjs is for control-plane nodes; this node\'s role in the cluster config is worker\n');
  });
});
