/**
 * What each node script does, as text: the --dry-run plans of prep on EL9,
 * Debian and Ubuntu, and of init, join and reset, kept as snapshots in
 * __snapshots__/dry-run-plans.test.ts.snap. A plan is the real step code
 * run against a model of a fresh node, so it is what a real run does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { shellLine } from '../hosts/engine/shell';
import { ROOT } from './helpers';

describe('what each node script does: its --dry-run plan, printed with no root, no sandbox and no commands', () => {
  /** Runs a script's dry-run with an empty PATH and no sandbox: nothing could run or be written even if it tried. */
  function plan(script: 'prep' | 'init' | 'join' | 'reset', args: string[], config?: string) {
    const empty = mkdtempSync(path.join(tmpdir(), 'nobin-'));
    const result = spawnSync(process.execPath, [path.join(ROOT, 'hosts', `${script}.mjs`), '--dry-run', ...args], {
      cwd: ROOT, encoding: 'utf8', env: { PATH: empty, INIT_CWD: ROOT, ...(config ? { CLUSTER_CONFIG: config } : {}) },
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return result.stdout as string;
  }

  const withOs = (os: string) => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cfg-')), 'cluster.yaml');
    writeFileSync(file, readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8').replace(/role: (control-plane|worker)/g, `role: $1\n    os: ${os}`));
    return file;
  };

  test.each([
    ['prep on EL9 (the default), control plane', 'prep', ['--node', 'k8s-node1'], undefined],
    ['prep on EL9 (the default), worker', 'prep', ['--node', 'k8s-node2'], undefined],
    ['prep on Debian, worker', 'prep', ['--node', 'k8s-node3'], 'debian'],
    ['prep on Ubuntu, control plane', 'prep', ['--node', 'k8s-node1'], 'ubuntu'],
    ['init on EL9, control plane', 'init', ['--node', 'k8s-node1'], undefined],
    ['join on Debian, worker', 'join', ['--node', 'k8s-node2'], 'debian'],
    ['reset --undo-prep on EL9, worker', 'reset', ['--node', 'k8s-node2', '--undo-prep'], undefined],
  ] as const)('%s', (_name, script, args, os) => {
    const output = plan(script, [...args], os ? withOs(os) : undefined);
    expect(output).toMatchSnapshot();
  });

  test('the plan lists every write with its full content, and the commands in order', () => {
    const output = plan('prep', ['--node', 'k8s-node1']);
    const order = ['hostnamectl set-hostname k8s-node1', 'swapoff -a', 'setenforce 0', 'firewall-cmd --permanent --add-port=6443/tcp', 'modprobe br_netfilter', 'sysctl -p /etc/sysctl.d/99-kubernetes.conf', 'dnf install -y', 'systemctl enable --now containerd', 'systemctl enable --now kubelet'];
    const positions = order.map((c) => output.indexOf(`$ ${c}`));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(output).toContain('--- write /etc/containerd/config.toml (mode 0644)\n  | # containerd 2.x for kubelet (managed by hosts/prep.mjs)\n  | version = 3');
  });

  test('the facts come from the plan model, and the plan says they are assumed, not observed', () => {
    const output = plan('prep', ['--node', 'k8s-node1']);
    expect(output).toContain('[k8s-node1] facts assumed for the plan (a fresh el9 node, not observed): Rocky Linux 9.5');
    expect(output).not.toMatch(/^\[k8s-node1\] facts: /m);
  });

  test('a command is printed as a shell takes it back: a real bash reads the same words', () => {
    const words = ['a b', "it's", '$HOME', '*', '%{http_code}', 'kubelet=1.35.1-*', '', 'x;y', 'two\nlines', '--description=join a worker (hosts/join.mjs)', 'plain-word_1.2/3:4'];
    const line = shellLine(['printf', '%s\\0', ...words]);
    const read = spawnSync('bash', ['-c', line], { encoding: 'utf8' });
    expect(read.stdout.split('\0').slice(0, -1)).toEqual(words);
    expect(shellLine(['plain-word_1.2/3:4', '--ttl=15m0s'])).toBe('plain-word_1.2/3:4 --ttl=15m0s');
  });

  test('the init plan shows the ticket it writes, mode 0600, with placeholders where the token and CA hash go', () => {
    const output = plan('init', ['--node', 'k8s-node1']);
    expect(output).toContain('$ kubeadm init --config=/etc/kubernetes/kubeadm-init.yaml');
    expect(output).toContain([
      '  --- write /root/kubeadm-join-ticket.yaml (mode 0600)',
      '  | # Join ticket: lets one node join the cluster until <15 minutes from now>.',
      '  | # It holds a secret token: copy it only to the worker, and delete it after use.',
      '  | apiServerEndpoint: 192.168.83.133:6443',
      '  | token: <token from kubeadm token create>',
      '  | caCertHash: sha256:<hash of /etc/kubernetes/pki/ca.crt>',
    ].join('\n'));
  });
});
