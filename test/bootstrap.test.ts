/**
 * scripts/bootstrap.mjs for real across three fake hosts: k8s-node1 on this
 * machine (127.0.0.1), k8s-node2 and k8s-node3 behind a real sshd on
 * 127.0.0.2 and 127.0.0.3. Each node is a sandbox with fake commands (see
 * fakehost/); they share one fake cluster (CA, tokens, applied objects).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { caCertHash } from '../hosts/kubeadm';
import { Sandbox } from './fakehost/sandbox';
import { sshdAvailable, startSshd, type TestSshd } from './fakehost/sshd';
import { ROOT } from './helpers';

const NODES = [
  { name: 'k8s-node1', address: '127.0.0.1', role: 'control-plane' },
  { name: 'k8s-node2', address: '127.0.0.2', role: 'worker' },
  { name: 'k8s-node3', address: '127.0.0.3', role: 'worker' },
] as const;

interface Cluster {
  dir: string;
  config: string;
  nodes: Record<string, Sandbox>;
  logs: string;
}

function makeCluster(sshd: TestSshd, options: { ports?: Record<string, number>; files?: Record<string, Record<string, string>> } = {}): Cluster {
  const dir = mkdtempSync(path.join(tmpdir(), 'bootstrap-'));
  const sandboxes = path.join(dir, 'nodes');
  const first = new Sandbox('el9', { address: NODES[0].address, files: options.files?.[NODES[0].name] });
  const nodes: Record<string, Sandbox> = { [NODES[0].name]: first };
  for (const node of NODES.slice(1)) {
    nodes[node.name] = new Sandbox(node.name === 'k8s-node2' ? 'debian' : 'ubuntu', { address: node.address, cluster: first.cluster, files: options.files?.[node.name] });
  }
  mkdirSync(sandboxes);
  for (const [name, sandbox] of Object.entries(nodes)) symlinkSync(sandbox.base, path.join(sandboxes, name));
  const config = path.join(dir, 'cluster.yaml');
  writeFileSync(config, stringify({
    kubernetes: { version: '1.35.1' },
    nodes: NODES.map((n) => ({
      ...n,
      ...(n.address === '127.0.0.1' ? {} : { ssh: { user: 'root', port: options.ports?.[n.name] ?? sshd.port, identityFile: sshd.identityFile } }),
    })),
  }));
  return { dir, config, nodes, logs: path.join(dir, 'logs') };
}

function bootstrap(cluster: Cluster, sshd: TestSshd, args: string[] = []) {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--config', cluster.config, '--ssh-config', sshd.sshConfig, '--log-dir', cluster.logs, ...args], {
    // Run from the cluster's folder: its dist/ is synthesized there, never in the repository.
    cwd: cluster.dir,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, KUBE_HOSTS_SANDBOX: path.join(cluster.dir, 'nodes'), BOOTSTRAP_RETRY_DELAY_MS: '10', INIT_CWD: cluster.dir },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const trees = (cluster: Cluster) => Object.fromEntries(Object.entries(cluster.nodes).map(([n, s]) => [n, s.tree()]));
const mutating = (cluster: Cluster) => Object.fromEntries(Object.entries(cluster.nodes).map(([n, s]) => [n, s.mutatingCommands()]));
const clearAll = (cluster: Cluster) => Object.values(cluster.nodes).forEach((s) => s.clearCommands());
const clusterFile = (cluster: Cluster, name: string) => readFileSync(path.join(cluster.nodes['k8s-node1'].cluster, name), 'utf8');

describe('--dry-run with the committed cluster.yaml', () => {
  test('prints the plan for the tutorial\'s three VMs with no root, no network, no SSH and no commands', () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'nobin-'));
    // PATH holds nothing but bash (zx's shell): no ssh, no ip, no system command could run.
    symlinkSync('/bin/bash', path.join(empty, 'bash'));
    const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--dry-run'], {
      cwd: ROOT, encoding: 'utf8', env: { PATH: empty, INIT_CWD: ROOT },
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const out = result.stdout;
    expect([...out.matchAll(/^==> (\S+)/gm)].map((m) => m[1])).toEqual(['connect', 'facts', 'prep', 'init', 'join', 'apply', 'verify', 'summary']);
    for (const [name, address] of [['k8s-node1', '192.168.83.133'], ['k8s-node2', '192.168.83.134'], ['k8s-node3', '192.168.83.135']]) {
      expect(out).toContain(`${name}      local, or ssh root@${address}:22 (planned, not connected)`);
      expect(out).toContain(`[${name}] prep / containerd`);
    }
    expect(out).toContain('[k8s-node1] init / kubeadm init');
    expect(out).toContain('[k8s-node2] join / kubeadm join');
    expect(out).toContain('  # input of the next command: dist/0001-ingress-nginx.yaml');
    expect(out).toContain('kubectl --kubeconfig=/etc/kubernetes/admin.conf wait --for=jsonpath={.webhooks[0].clientConfig.caBundle} validatingwebhookconfiguration/ingress-nginx-admission --timeout=300s');
    expect(out).toContain('curl -s -o /dev/null -w %{http_code} --max-time 10 -H Host: tomcat6.touch.air.mall.com http://192.168.83.135/');
    expect(out).toContain('dry run: nothing was run, nothing was written');
  });
});

if (!sshdAvailable()) {
  process.stderr.write('bootstrap over SSH: SKIPPED: needs /usr/sbin/sshd (apt-get install openssh-server) and root; .ci/run installs it\n');
  test.skip('bootstrap over SSH (SKIPPED: no sshd or not root)', () => undefined);
} else {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd(['127.0.0.2', '127.0.0.3']);
  });
  afterAll(() => sshd?.stop());

  describe('a three-node cluster from bare fake hosts', () => {
    let cluster: Cluster;
    let first: ReturnType<typeof bootstrap>;
    beforeAll(() => {
      cluster = makeCluster(sshd);
      first = bootstrap(cluster, sshd);
    });

    test('exits 0 with every phase in order, the workers over SSH', () => {
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      const phases = [...first.stdout.matchAll(/^==> (\S+)/gm)].map((m) => m[1]);
      expect(phases).toEqual(['connect', 'facts', 'prep', 'init', 'join', 'apply', 'verify', 'summary']);
      expect(first.stdout).toMatch(/k8s-node1 +local/);
      expect(first.stdout).toMatch(new RegExp(`k8s-node2 +ssh root@127\\.0\\.0\\.2:${sshd.port}`));
      expect(first.stdout).toMatch(new RegExp(`k8s-node3 +ssh root@127\\.0\\.0\\.3:${sshd.port}`));
    });

    test('every node prepared before init, init before any join; progress lines with durations', () => {
      const out = first.stdout;
      const at = (text: RegExp) => out.search(text);
      for (const node of ['k8s-node1', 'k8s-node2', 'k8s-node3']) {
        expect(at(new RegExp(`${node} +prep done: \\d+ step\\(s\\) changed \\(\\d+\\.\\ds\\)`))).toBeGreaterThan(0);
        expect(at(new RegExp(`${node} +prep done`))).toBeLessThan(at(/k8s-node1 +init started/));
      }
      expect(at(/k8s-node1 +init done: initialised/)).toBeLessThan(at(/k8s-node2 +join started/));
      expect(out).toMatch(/k8s-node2 +join done: joined/);
      expect(out).toMatch(/k8s-node3 +join done: joined/);
      expect(cluster.nodes['k8s-node3'].readFile('/etc/hostname')).toBe('k8s-node3\n');
    });

    test('joins carry the cluster CA hash and a fresh 15-minute token minted after init', () => {
      const ca = caCertHash(clusterFile(cluster, 'ca.crt'));
      const tokens = JSON.parse(clusterFile(cluster, 'tokens.json')) as { token: string; expires: number }[];
      for (const worker of ['k8s-node2', 'k8s-node3']) {
        const join = cluster.nodes[worker].fakeState<any>('kubeadm-join.json').discovery.bootstrapToken;
        expect(join.caCertHashes).toEqual([ca]);
        expect(join.apiServerEndpoint).toBe('127.0.0.1:6443');
        const used = tokens.findIndex((t) => t.token === join.token);
        expect(used).toBeGreaterThan(0); // not the token kubeadm init made (index 0)
        expect(tokens[used].expires - Date.now()).toBeLessThanOrEqual(15 * 60_000);
        expect(tokens[used].expires - Date.now()).toBeGreaterThan(10 * 60_000);
      }
    });

    test('dist/ was missing, so it was synthesized first', () => {
      expect(first.stdout).toContain(`synthesized ${path.join(cluster.dir, 'dist')} from cluster.yaml`);
      expect(readdirSync(path.join(cluster.dir, 'dist'))).toEqual(['0000-flannel.yaml', '0001-ingress-nginx.yaml', '0002-tomcat6.yaml']);
    });

    test('dist/ applied in stages, with the waits in between', () => {
      const log = clusterFile(cluster, 'kubectl.log').trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' '));
      expect(log).toEqual([
        'apply Namespace/kube-flannel', 'waited nodes-ready',
        'apply Namespace/ingress-nginx', 'waited rollout', 'waited webhook-ca',
        'apply Deployment/tomcat6', 'waited rollout',
      ]);
    });

    test('verifies like the tutorial and prints the summary with the hosts line', () => {
      const curls = clusterFile(cluster, 'curl.log');
      for (const address of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) expect(curls).toContain(`http://${address}:31234/`);
      expect(curls).toContain('-H Host: tomcat6.touch.air.mall.com http://127.0.0.2/');
      expect(first.stdout).toMatch(/ok +k8s-node3 Ingress +http:\/\/127\.0\.0\.3\/ \(Host: tomcat6\.touch\.air\.mall\.com\) -> 200/);
      expect(first.stdout).toMatch(/k8s-node2 +worker +joined +\d+\.\ds/);
      expect(first.stdout).toContain('127.0.0.2  tomcat6.touch.air.mall.com');
    });

    test('per-node logs exist and hold no secret', () => {
      expect(readdirSync(cluster.logs).sort()).toEqual(['bootstrap.log', 'k8s-node1.log', 'k8s-node2.log', 'k8s-node3.log']);
      const tokens = JSON.parse(clusterFile(cluster, 'tokens.json')) as { token: string }[];
      const everything = [first.stdout, first.stderr, ...readdirSync(cluster.logs).map((f) => readFileSync(path.join(cluster.logs, f), 'utf8'))].join('\n');
      expect(readFileSync(path.join(cluster.logs, 'k8s-node2.log'), 'utf8')).toContain('kubeadm join: joined 127.0.0.1:6443');
      for (const { token } of tokens) expect(everything).not.toContain(token.split('.')[1]);
      const clientKey = /client-key-data: (\S+)/.exec(cluster.nodes['k8s-node1'].readFile('/etc/kubernetes/admin.conf')!)![1];
      expect(everything).not.toContain(clientKey.slice(0, 40));
    });

    test('a second run changes nothing on any node and says so', () => {
      const before = trees(cluster);
      clearAll(cluster);
      const again = bootstrap(cluster, sshd);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/k8s-node2 +prep done: nothing to change/);
      expect(again.stdout).toMatch(/k8s-node1 +init done: already initialised/);
      expect(again.stdout).toMatch(/k8s-node3 +join done: already joined/);
      expect(again.stdout).toMatch(/apply done: 3 stages unchanged/);
      expect(trees(cluster)).toEqual(before);
      const changed = mutating(cluster);
      expect(changed['k8s-node2']).toEqual([]);
      expect(changed['k8s-node3']).toEqual([]);
      // On the control plane only the (idempotent) kubectl applies run.
      expect(changed['k8s-node1'].map((c) => c.join(' '))).toEqual(Array(3).fill('kubectl --kubeconfig=/etc/kubernetes/admin.conf apply -f -'));
    });

    test('reset takes the cluster down, workers first, and a second reset changes nothing', () => {
      const reset = bootstrap(cluster, sshd, ['reset']);
      expect(reset.code).toBe(0);
      expect(reset.stdout.indexOf('==> reset workers')).toBeLessThan(reset.stdout.indexOf('==> reset control plane'));
      for (const node of Object.values(cluster.nodes)) expect(node.readFile('/etc/kubernetes/kubelet.conf')).toBeUndefined();
      clearAll(cluster);
      const again = bootstrap(cluster, sshd, ['reset']);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/k8s-node2 +reset workers done: nothing to change/);
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });
  });

  describe('faults, and a re-run after each converges', () => {
    test('one worker unreachable: one line, before any change on any node', () => {
      const cluster = makeCluster(sshd, { ports: { 'k8s-node3': 1 } });
      const before = trees(cluster);
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^k8s-node3: cannot reach root@127\.0\.0\.3:1 over SSH \(.*Connection refused.*\)\n$/);
      expect(trees(cluster)).toEqual(before);
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
      writeFileSync(cluster.config, readFileSync(cluster.config, 'utf8').replace('port: 1\n', `port: ${sshd.port}\n`));
      expect(bootstrap(cluster, sshd).code).toBe(0);
    });

    test('one worker\'s prep fails: the others go on; the re-run finishes it', () => {
      const cluster = makeCluster(sshd);
      cluster.nodes['k8s-node3'].failOn('apt-get install -y --allow-change-held-packages');
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/k8s-node3 +prep FAILED \(\d+\.\ds\): k8s-node3: step "packages" failed: `env DEBIAN_FRONTEND=noninteractive apt-get install/);
      expect(result.stdout).toMatch(/k8s-node2 +join done: joined/);
      expect(result.stdout).not.toMatch(/k8s-node3 +join/);
      expect(result.stdout).toMatch(/k8s-node3 +worker +FAILED/);
      expect(result.stderr).toMatch(/bootstrap did not finish: k8s-node3 failed; fix it and run scripts\/bootstrap\.mjs again/);
      cluster.nodes['k8s-node3'].failOn();
      const rerun = bootstrap(cluster, sshd);
      expect(rerun.code).toBe(0);
      expect(rerun.stdout).toMatch(/k8s-node2 +join done: already joined/);
      expect(rerun.stdout).toMatch(/k8s-node3 +join done: joined/);
    });

    test('a token that expired between minting and joining: a fresh one is minted', () => {
      const cluster = makeCluster(sshd);
      // Prep and init first (the check then fails: the workers are not in the cluster), then make the next token expire at once.
      const partial = bootstrap(cluster, sshd, ['--only', 'k8s-node1']);
      expect(partial.code).toBe(1);
      expect(partial.stdout).toMatch(/FAIL k8s-node2 NodePort +http:\/\/127\.0\.0\.2:31234\/ -> 000/);
      expect(partial.stdout).toMatch(/ok {3}k8s-node1 NodePort/);
      expect(partial.stderr).toMatch(/bootstrap did not finish: the final check failed/);
      writeFileSync(path.join(cluster.nodes['k8s-node1'].cluster, 'expire-next-token'), '');
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(0);
      expect(readFileSync(path.join(cluster.logs, 'k8s-node2.log'), 'utf8')).toMatch(/the join token was no longer valid; minting a fresh one/);
      const creates = cluster.nodes['k8s-node1'].commands().filter((c) => c.slice(0, 3).join(' ') === 'kubeadm token create');
      expect(creates).toHaveLength(2);
    });

    test('a duplicate product_uuid: refused before any change on any node', () => {
      const uuid = '4c4c4544-0042-3510-8052-b7c04f4d3232\n';
      const cluster = makeCluster(sshd, { files: { 'k8s-node2': { '/sys/class/dmi/id/product_uuid': uuid }, 'k8s-node3': { '/sys/class/dmi/id/product_uuid': uuid } } });
      const before = trees(cluster);
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe('k8s-node3 and k8s-node2 have the same product_uuid 4c4c4544-0042-3510-8052-b7c04f4d3232; cloned VMs need a new product_uuid (regenerate it in the hypervisor) before kubeadm can tell them apart\n');
      expect(trees(cluster)).toEqual(before);
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });

    test('a refused SSH login: one line with the fix, nothing touched', () => {
      const cluster = makeCluster(sshd);
      const otherKey = path.join(cluster.dir, 'other_key');
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
      writeFileSync(cluster.config, readFileSync(cluster.config, 'utf8').replace(`identityFile: ${sshd.identityFile}`, `identityFile: ${otherKey}`));
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^k8s-node2: SSH login as root@127\.0\.0\.2:\d+ refused \(.*Permission denied.*\); add your key to the node's authorized_keys or set nodes\[\]\.ssh\.identityFile\n$/);
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });

    test('a bad config and bad flags: one line each, nothing touched', () => {
      const cluster = makeCluster(sshd);
      writeFileSync(cluster.config, readFileSync(cluster.config, 'utf8').replace('role: worker', 'role: master'));
      const bad = bootstrap(cluster, sshd);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/cluster\.yaml:\d+:\d+: nodes\[1\]\.role: "master" must be control-plane or worker\n$/);
      writeFileSync(cluster.config, readFileSync(cluster.config, 'utf8').replace('role: master', 'role: worker'));
      expect(bootstrap(cluster, sshd, ['--only', 'k8s-node9']).stderr).toMatch(/^--only k8s-node9: no node named k8s-node9 in the cluster config \(nodes: k8s-node1, k8s-node2, k8s-node3\)\n$/);
      expect(bootstrap(cluster, sshd, ['--ssh-config', '/nonexistent']).stderr).toMatch(/^--ssh-config \/nonexistent: no such file\n$/);
      expect(bootstrap(cluster, sshd, ['--concurrency', '0']).stderr).toMatch(/--concurrency 0: must be a whole number from 1 to 100\n$/);
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });
  });
}
