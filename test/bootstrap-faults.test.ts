/**
 * scripts/bootstrap.mjs across three fake hosts (see fakehost/cluster.ts)
 * when things go wrong: each fault is reported before or without harm, and
 * a re-run converges.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { synthesize } from '../charts/app';
import { RUNTIME_ATTEMPTS } from '../hosts/cluster/phases';
import { bootstrap, makeCluster, mutating, trees } from './fakehost/cluster';
import { configWith, ROOT } from './helpers';
import { sshdForTests } from './fakehost/sshd';

const sshd = sshdForTests('bootstrap faults over SSH');
if (sshd) {
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
      cluster.nodes['k8s-node3'].failOn('apt-get -o DPkg::Lock::Timeout=600 install -y --allow-change-held-packages');
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/k8s-node3 +prep FAILED \(\d+\.\ds\): k8s-node3: step "packages" failed: `env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install/);
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

    test('a stage whose wait times out: exit 1, the stage failed, no later stage applied, the summary says so', () => {
      const cluster = makeCluster(sshd);
      mkdirSync(cluster.nodes['k8s-node1'].cluster, { recursive: true });
      writeFileSync(path.join(cluster.nodes['k8s-node1'].cluster, 'fail-wait'), 'rollout status daemonset/traefik');
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(1);
      const failure = 'k8s-node1: step "apply traefik" failed: `kubectl --kubeconfig=/etc/kubernetes/admin.conf -n traefik rollout status daemonset/traefik --timeout=300s` exited 1: error: timed out waiting for the condition';
      expect(result.stdout).toMatch(/k8s-node1 +apply FAILED \(\d+\.\ds\): /);
      expect(result.stdout).toContain(failure);
      expect(result.stderr).toBe(`${failure}\n`);
      const applied = readFileSync(path.join(cluster.nodes['k8s-node1'].cluster, 'kubectl.log'), 'utf8').trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' '));
      expect(applied).toEqual(['apply Namespace/kube-flannel', 'waited nodes-ready', 'apply Namespace/traefik']);
      expect(result.stdout).not.toContain('==> verify');
      const summary = result.stdout.slice(result.stdout.indexOf('==> summary'));
      expect(summary).toMatch(/k8s-node1 +control-plane +FAILED /);
      expect(summary).toContain(`      apply: ${failure}`);
      rmSync(path.join(cluster.nodes['k8s-node1'].cluster, 'fail-wait'));
      expect(bootstrap(cluster, sshd).code).toBe(0);
    });

    test('CoreDNS never rolls out (no node takes its pods): every stage applied, then the apply fails on the cluster DNS, naming the wait; no check runs', () => {
      const cluster = makeCluster(sshd);
      mkdirSync(cluster.nodes['k8s-node1'].cluster, { recursive: true });
      writeFileSync(path.join(cluster.nodes['k8s-node1'].cluster, 'fail-wait'), 'rollout status deployment/coredns');
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(1);
      const failure = 'k8s-node1: step "cluster DNS" failed: `kubectl --kubeconfig=/etc/kubernetes/admin.conf -n kube-system rollout status deployment/coredns --timeout=300s` exited 1: error: timed out waiting for the condition';
      expect(result.stderr).toBe(`${failure}\n`);
      const log = readFileSync(path.join(cluster.nodes['k8s-node1'].cluster, 'kubectl.log'), 'utf8');
      expect(log).toContain('waited rollout tomcat6');
      expect(result.stdout).not.toContain('==> verify');
      rmSync(path.join(cluster.nodes['k8s-node1'].cluster, 'fail-wait'));
      const rerun = bootstrap(cluster, sshd);
      expect(rerun.code).toBe(0);
      expect(readFileSync(path.join(cluster.nodes['k8s-node1'].cluster, 'kubectl.log'), 'utf8')).toContain('waited rollout coredns');
    });

    test('the API server stops answering for a while during the apply (the kubelet restarts it): the calls are tried again and the run goes on', () => {
      const cluster = makeCluster(sshd);
      const state = cluster.nodes['k8s-node1'].cluster;
      mkdirSync(state, { recursive: true });
      expect(bootstrap(cluster, sshd).code).toBe(0);
      // On the re-run, the first kubectl apply and its next two tries are refused; then, the apply through, the
      // first wait and its next try (the API server went away between the two).
      writeFileSync(path.join(state, 'api-down'), '3');
      writeFileSync(path.join(state, 'api-down-waits'), '2');
      const rerun = bootstrap(cluster, sshd);
      expect(rerun.stderr).toBe('');
      expect(rerun.code).toBe(0);
      expect(rerun.stdout).toContain('apply done: 3 stages unchanged');
      const log = readFileSync(path.join(state, 'kubectl.log'), 'utf8');
      expect(log.match(/^refused .*/gm)).toEqual(['refused apply -f', 'refused apply -f', 'refused apply -f', 'refused wait --for=create', 'refused wait --for=create']);
      expect(readFileSync(path.join(state, 'api-down'), 'utf8')).toBe('0');
      expect(readFileSync(path.join(state, 'api-down-waits'), 'utf8')).toBe('0');
    });

    test('reset --only a worker while the API server does not answer for a while: the Node look-up is tried again, then the worker is drained and its Node deleted', () => {
      const cluster = makeCluster(sshd);
      const state = cluster.nodes['k8s-node1'].cluster;
      expect(bootstrap(cluster, sshd).code).toBe(0);
      writeFileSync(path.join(state, 'api-down'), '2');
      const result = bootstrap(cluster, sshd, ['reset', '--only', 'k8s-node3', '--yes']);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const log = readFileSync(path.join(state, 'kubectl.log'), 'utf8');
      expect(log.match(/^refused get node$/gm)).toEqual(['refused get node', 'refused get node']);
      expect(log.indexOf('deleted node k8s-node3')).toBeGreaterThan(log.indexOf('drained k8s-node3'));
      expect(log.indexOf('drained k8s-node3')).toBeGreaterThan(log.lastIndexOf('refused get node'));
      expect(readdirSync(path.join(state, 'nodes')).sort()).toEqual(['k8s-node1', 'k8s-node2']);
    });

    test('a dist/ of another config lies in the folder: the run applies its own config\'s manifests', () => {
      const cluster = makeCluster(sshd);
      synthesize(configWith({ network: { podCidr: '172.20.0.0/16' } }), path.join(cluster.dir, 'dist'));
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(0);
      const applied = JSON.parse(readFileSync(path.join(cluster.nodes['k8s-node1'].cluster, 'applied.json'), 'utf8'));
      const flannel = JSON.parse(applied['ConfigMap/kube-flannel/kube-flannel-cfg']);
      expect(JSON.parse(flannel.data['net-conf.json']).Network).toBe('10.244.0.0/16');
    });

    test('tomcat6.replicas: 0 finishes, saying the HTTP checks are skipped (nothing could answer)', () => {
      const cluster = makeCluster(sshd);
      writeFileSync(cluster.config, `${readFileSync(cluster.config, 'utf8')}tomcat6:\n  replicas: 0\n`);
      const result = bootstrap(cluster, sshd);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/k8s-node1 +verify done: tomcat6\.replicas is 0: no pod answers, so the HTTP checks are skipped/);
      expect(result.stdout).toContain('    checks: tomcat6.replicas is 0: no pod answers, so the HTTP checks are skipped');
      expect(existsSync(path.join(cluster.nodes['k8s-node1'].cluster, 'curl.log'))).toBe(false);
    });

    test('a token that expired between minting and joining: a fresh one is minted', () => {
      const cluster = makeCluster(sshd);
      // Prep and init first: with its workers still out, the tainted control plane runs no ordinary pod, so
      // tomcat6's rollout never finishes and the apply stops there. Then make the next token expire at once.
      const partial = bootstrap(cluster, sshd, ['--only', 'k8s-node1']);
      expect(partial.code).toBe(1);
      expect(partial.stdout).toMatch(/k8s-node1 +apply FAILED .*rollout status deployment\/tomcat6/);
      expect(partial.stdout).toMatch(/k8s-node1 +init done: initialised/);
      expect(partial.stderr).toMatch(/step "apply tomcat6" failed/);
      writeFileSync(path.join(cluster.nodes['k8s-node1'].cluster, 'expire-next-token'), '');
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(0);
      expect(readFileSync(path.join(cluster.logs, 'k8s-node2.log'), 'utf8')).toMatch(/the join token was no longer valid; minting a fresh one/);
      const creates = cluster.nodes['k8s-node1'].commands().filter((c) => c.slice(0, 3).join(' ') === 'kubeadm token create');
      expect(creates).toHaveLength(2);
    });

    test('the container runtime misses kubeadm\'s 2 s preflight deadline (a starved node): init and join are tried again and the run finishes', () => {
      const cluster = makeCluster(sshd);
      cluster.nodes['k8s-node1'].writeFile('/.fake/cri-slow', '1');
      cluster.nodes['k8s-node2'].writeFile('/.fake/cri-slow', '2');
      const result = bootstrap(cluster, sshd);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/k8s-node1 +init done: initialised/);
      expect(result.stdout).toMatch(/k8s-node2 +join done: joined/);
      const retried = (node: string) => readFileSync(path.join(cluster.logs, `${node}.log`), 'utf8').match(/the container runtime did not answer kubeadm's preflight within its fixed 2 s \(a busy node\); trying again/g) ?? [];
      expect([retried('k8s-node1').length, retried('k8s-node2').length, retried('k8s-node3').length]).toEqual([1, 2, 0]);
      const runs = (node: string, sub: string) => cluster.nodes[node].commands().filter((c) => c[0] === 'kubeadm' && c[1] === sub).length;
      expect([runs('k8s-node1', 'init'), runs('k8s-node2', 'join'), runs('k8s-node3', 'join')]).toEqual([2, 3, 1]);
    });

    test('a runtime that never answers in time: the join gives up after its tries, with kubeadm\'s own words', () => {
      const cluster = makeCluster(sshd);
      cluster.nodes['k8s-node3'].writeFile('/.fake/cri-slow', '100');
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/k8s-node3 +join FAILED .*\[ERROR CRI\]: could not connect to the container runtime/);
      expect(cluster.nodes['k8s-node3'].commands().filter((c) => c[0] === 'kubeadm' && c[1] === 'join')).toHaveLength(RUNTIME_ATTEMPTS);
    });

    test('Ctrl-C: the SSH connections closed, the logs named, a failing exit code; a re-run continues', async () => {
      const cluster = makeCluster(sshd);
      // Its own temporary folder (short: the SSH control sockets live there), which must be empty afterwards.
      const tmp = mkdtempSync('/tmp/kh-');
      const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--config', cluster.config, '--ssh-config', sshd.sshConfig, '--log-dir', cluster.logs, '--yes'], {
        cwd: cluster.dir, env: { ...process.env, TMPDIR: tmp, KUBE_HOSTS_SANDBOX: path.join(cluster.dir, 'nodes'), BOOTSTRAP_RETRY_DELAY_MS: '10', INIT_CWD: cluster.dir },
      });
      let output = '';
      let stderr = '';
      child.stderr.on('data', (chunk) => { stderr += chunk; });
      child.stdout.on('data', (chunk) => {
        output += chunk;
        if (/k8s-node2 +prep started/.test(output) && !child.killed) child.kill('SIGINT');
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
      expect({ code, stderr }).toEqual({ code: 130, stderr: '' });
      expect(output).toContain(`interrupted (SIGINT): what ran on the nodes at that moment may have stopped halfway; run scripts/bootstrap.mjs again to continue; logs: ${cluster.logs}/`);
      expect(readFileSync(path.join(cluster.logs, 'bootstrap.log'), 'utf8')).toContain('interrupted (SIGINT)');
      expect(readdirSync(tmp).filter((f) => f.startsWith('kube-ssh-'))).toEqual([]);
      // No ssh process of that run is left (a control master told to exit may take a moment to go, on a busy machine).
      for (let i = 0; i < 50 && spawnSync('pgrep', ['-f', tmp]).status === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(spawnSync('pgrep', ['-f', tmp]).status).toBe(1);
      rmSync(tmp, { recursive: true, force: true });
      expect(bootstrap(cluster, sshd).code).toBe(0);
    }, 240_000);

    test('a long TMPDIR (as macOS gives): the SSH control sockets still fit', () => {
      const cluster = makeCluster(sshd);
      const deep = path.join(mkdtempSync(path.join(tmpdir(), 'a-rather-long-temporary-folder-')), 'and-deeper-still');
      mkdirSync(deep);
      const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--config', cluster.config, '--ssh-config', sshd.sshConfig, '--log-dir', cluster.logs, '--yes'], {
        cwd: cluster.dir, encoding: 'utf8', timeout: 240_000,
        env: { ...process.env, TMPDIR: deep, KUBE_HOSTS_SANDBOX: path.join(cluster.dir, 'nodes'), BOOTSTRAP_RETRY_DELAY_MS: '10', INIT_CWD: cluster.dir },
      });
      expect(deep.length).toBeGreaterThan(40);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
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

    test('system containers: the host\'s product_uuid shared by all is no duplicate; a shared machine-id is, refused before any change', () => {
      const container = (machineId: string) => ({
        '/run/systemd/container': 'lxc', '/.fake/container': 'lxc', '/etc/machine-id': `${machineId}\n`,
        // The host's DMI, the same in every container.
        '/sys/class/dmi/id/product_uuid': '4c4c4544-0042-3510-8052-b7c04f4d3232\n',
        '/proc/filesystems': 'nodev\toverlay\n', '/proc/sys/net/bridge/bridge-nf-call-iptables': '1\n',
      });
      const cloned = '9c6920b5374fcd4bdfa2611f04cde636';
      const cluster = makeCluster(sshd, { files: { 'k8s-node1': container('0dd5a88d8fc7029696d18b25d941e2d9'), 'k8s-node2': container(cloned), 'k8s-node3': container(cloned) } });
      const before = trees(cluster);
      const result = bootstrap(cluster, sshd);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`k8s-node3 and k8s-node2 have the same machine-id ${cloned}; cloned machines or containers need a new machine-id (rm /etc/machine-id && systemd-machine-id-setup, then reboot) before kubeadm can tell them apart\n`);
      expect(result.stdout).toMatch(/k8s-node2 +facts done: .*system container \(lxc\), .*machine-id 9c6920b5374fcd4bdfa2611f04cde636/);
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
