/**
 * The quick start as the README gives it: scripts/bootstrap.mjs on a
 * workstation that is none of the nodes, every node (the control plane
 * too) behind a real sshd; then `kubeconfig` and `status` the same way, the
 * npm scripts, and what a run shows while it works (the log folder first, a
 * heartbeat on long steps, connect failures in the log).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { bootstrap, type Cluster, clearAll, command, makeCluster, mutating, trees, WORKSTATION_CONTROL_PLANE } from './fakehost/cluster';
import { sshdForTests } from './fakehost/sshd';
import { ROOT } from './helpers';

const sshd = sshdForTests('the workstation quick start over SSH');

/** The cluster's config with one node's SSH port changed (to one nothing listens on), as another file. */
function withUnreachable(cluster: Cluster, node: string, file: string): Cluster {
  const config = parse(readFileSync(cluster.config, 'utf8'));
  config.nodes.find((n: { name: string }) => n.name === node).ssh.port = 1;
  const other = path.join(cluster.dir, file);
  writeFileSync(other, stringify(config));
  return { ...cluster, config: other, logs: path.join(cluster.dir, `logs-${file}`) };
}

const noChanges = (cluster: Cluster) => Object.fromEntries(Object.keys(cluster.nodes).map((n) => [n, []]));

if (sshd) {
  describe('from a workstation: every node over SSH, none of them this machine', () => {
    let cluster: Cluster;
    let first: ReturnType<typeof bootstrap>;
    beforeAll(() => {
      cluster = makeCluster(sshd, { workstation: true });
      // kubeadm init takes 3 s here: long enough for heartbeats every second.
      cluster.nodes['k8s-node1'].writeFile('/.fake/slow', '3 kubeadm init\n');
      first = bootstrap(cluster, sshd, [], { BOOTSTRAP_HEARTBEAT_SECONDS: '1' });
    });

    test('goes all the way with every node over SSH; the first line says where the logs are', () => {
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(first.stdout.split('\n')[0]).toBe(`logs: ${cluster.logs}/`);
      for (const [name, address] of [['k8s-node1', WORKSTATION_CONTROL_PLANE], ['k8s-node2', '127.0.0.2'], ['k8s-node3', '127.0.0.3']]) {
        expect(first.stdout).toMatch(new RegExp(`^    ${name} +ssh root@${address.replace(/\./g, '\\.')}:${sshd.port} \\(`, 'm'));
      }
      expect(first.stdout).not.toMatch(/^ {4}k8s-node\d +local/m);
      expect(first.stdout).toMatch(/ok +k8s-node1 NodePort +http:\/\/127\.0\.0\.4:\d+\/ -> 200/);
    });

    test('a long step shows a heartbeat: node, phase, step and the time so far, on the terminal and in the log', () => {
      const beat = /^ {4}k8s-node1 +init \/ kubeadm init: still running \(\d+s\)$/m;
      expect(first.stdout).toMatch(beat);
      expect(readFileSync(path.join(cluster.logs, 'bootstrap.log'), 'utf8')).toMatch(beat);
      // Only while something runs: none once the last phase is over (verify itself may take a beat's length).
      expect(first.stdout.slice(first.stdout.indexOf('==> summary'))).not.toContain('still running');
    });

    test('the summary names the next steps (kubeconfig, kubectl get nodes, status) with the config and ssh_config of this run, and they run as printed', () => {
      const inputs = ` --config cluster.yaml --ssh-config ${sshd.sshConfig}`;
      expect(first.stdout).toContain(`    next, from this machine:\n      scripts/bootstrap.mjs kubeconfig${inputs}  `);
      expect(first.stdout).toMatch(/kubeconfig .* {2,}\(the admin kubeconfig as \.\/kubeconfig, mode 0600\)/);
      expect(first.stdout).toContain('      KUBECONFIG=./kubeconfig kubectl get nodes\n');
      const status = first.stdout.split('\n').find((line) => line.startsWith('      scripts/bootstrap.mjs status'))!;
      expect(status).toContain(`status${inputs}  `);
      expect(status).toMatch(/ {2,}\(nodes, add-ons and checks; changes nothing\)$/);
      // As printed, from the folder the bootstrap ran in.
      const argv = status.trim().split(/ {2,}\(/)[0].split(' ');
      const result = spawnSync(process.execPath, [path.join(ROOT, argv[0]), ...argv.slice(1)], {
        cwd: cluster.dir, encoding: 'utf8', env: { ...process.env, KUBE_HOSTS_SANDBOX: path.join(cluster.dir, 'nodes'), INIT_CWD: cluster.dir },
      });
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain('==> status: healthy; nothing was changed');
    });

    describe('kubeconfig', () => {
      const file = () => path.join(cluster.dir, 'kubeconfig');
      const admin = () => cluster.nodes['k8s-node1'].readFile('/etc/kubernetes/admin.conf')!;

      test('fetches admin.conf from the control plane to ./kubeconfig, mode 0600, never printed; changes nothing on the nodes', () => {
        clearAll(cluster);
        const result = command(cluster, sshd, ['kubeconfig']);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(statSync(file()).mode & 0o777).toBe(0o600);
        expect(readFileSync(file(), 'utf8')).toBe(admin());
        const key = /client-key-data: (\S+)/.exec(admin())![1];
        expect(key.length).toBeGreaterThan(100);
        expect(result.stdout).not.toContain(key);
        expect(result.stdout).toContain('wrote kubeconfig: the admin kubeconfig of k8s-node1 (cluster-admin credentials; mode 0600, keep it private)');
        // Nothing answers on 127.0.0.4:6443 here: the way through a tunnel is spelt out.
        expect(result.stdout).toContain(`warning: server https://127.0.0.4:6443 does not answer from this machine; if the nodes are reached another way, tunnel it (ssh -N -L 6443:127.0.0.4:6443 root@127.0.0.4 -p ${sshd.port}) and run this again with --server https://127.0.0.1:6443`);
        expect(result.stdout).toContain('next: KUBECONFIG=./kubeconfig kubectl get nodes');
        expect(mutating(cluster)).toEqual(noChanges(cluster));
      });

      test('again: left alone; a different file at that path is kept as a backup, mode 0600', () => {
        expect(command(cluster, sshd, ['kubeconfig'])).toMatchObject({ code: 0, stdout: expect.stringContaining('kubeconfig is already the admin kubeconfig of k8s-node1') });
        expect(readdirSync(cluster.dir).filter((f) => f.startsWith('kubeconfig.bak-'))).toEqual([]);
        // Already current but readable by others (a user's chmod, a copy): made private again, not left as it was.
        chmodSync(file(), 0o644);
        expect(command(cluster, sshd, ['kubeconfig']).code).toBe(0);
        expect(statSync(file()).mode & 0o777).toBe(0o600);
        writeFileSync(file(), 'my other cluster\n', { mode: 0o644 });
        const result = command(cluster, sshd, ['kubeconfig']);
        expect(result.code).toBe(0);
        const backups = readdirSync(cluster.dir).filter((f) => f.startsWith('kubeconfig.bak-'));
        expect(backups).toHaveLength(1);
        expect(readFileSync(path.join(cluster.dir, backups[0]), 'utf8')).toBe('my other cluster\n');
        expect(statSync(path.join(cluster.dir, backups[0])).mode & 0o777).toBe(0o600);
        expect(result.stdout).toContain(`the previous file is kept as ${backups[0]}`);
        expect(readFileSync(file(), 'utf8')).toBe(admin());
      });

      describe('--server: the address this machine reaches the API server at', () => {
        let server: Server;
        let port: number;
        beforeAll(async () => {
          server = createServer((socket) => socket.destroy());
          await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
          port = (server.address() as { port: number }).port;
        });
        afterAll(() => server.close());

        test('is written, with the certificate checked for the name kubeadm always puts in it; a server that answers is said to', () => {
          const result = command(cluster, sshd, ['kubeconfig', '--output', 'tunnel.conf', '--server', `https://127.0.0.1:${port}`]);
          expect(result.stderr).toBe('');
          expect(result.code).toBe(0);
          const written = parse(readFileSync(path.join(cluster.dir, 'tunnel.conf'), 'utf8'));
          expect(written.clusters[0].cluster).toMatchObject({ server: `https://127.0.0.1:${port}`, 'tls-server-name': 'kubernetes' });
          expect(written.users).toEqual(parse(admin()).users);
          expect(result.stdout).toContain(`server https://127.0.0.1:${port} answers from this machine`);
          expect(result.stdout).toContain('next: KUBECONFIG=./tunnel.conf kubectl get nodes');
        });
      });

      test.each([
        [['--server', 'http://127.0.0.1:6443'], '--server http://127.0.0.1:6443: must be an https URL of a host and port, e.g. https://127.0.0.1:6443'],
        [['--server', 'https://127.0.0.1:6443/api'], '--server https://127.0.0.1:6443/api: must be an https URL of a host and port, e.g. https://127.0.0.1:6443'],
        [['--output', 'no-such-folder/kubeconfig'], `--output no-such-folder/kubeconfig: the folder ${'<dir>'}/no-such-folder does not exist`],
        [['--output', '.'], '--output .: is a folder; name a file, e.g. --output kubeconfig'],
        [['--outptu', 'x'], "unknown option '--outptu' (Did you mean --output?); see --help"],
      ])('a bad flag (%j) is one line and exit 1, before any node is reached', (args, message) => {
        clearAll(cluster);
        const before = readdirSync(cluster.dir).sort();
        const result = command(cluster, sshd, ['kubeconfig', ...args]);
        expect(result).toMatchObject({ code: 1, stdout: '' });
        expect(result.stderr).toBe(`${message.replace('<dir>', cluster.dir)}\n`);
        expect(readdirSync(cluster.dir).sort()).toEqual(before);
        expect(mutating(cluster)).toEqual(noChanges(cluster));
      });

      test('before the cluster exists: one line saying so, no file', () => {
        const fresh = makeCluster(sshd, { workstation: true });
        const result = command(fresh, sshd, ['kubeconfig']);
        expect(result).toMatchObject({ code: 1, stdout: '' });
        expect(result.stderr).toBe('k8s-node1 has no /etc/kubernetes/admin.conf: the control plane is not initialised yet; run scripts/bootstrap.mjs first\n');
        expect(existsSync(path.join(fresh.dir, 'kubeconfig'))).toBe(false);
      });
    });

    describe('status', () => {
      test('every node reachable, prepared, joined, Ready, with its versions; add-ons rolled out; checks pass; nothing changed', () => {
        clearAll(cluster);
        const before = trees(cluster);
        const result = command(cluster, sshd, ['status']);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(result.stdout).toMatch(/^ {4}k8s-node1 +control-plane +yes +yes +yes +yes +kubelet 1\.35\.1, kubeadm 1\.35\.1, control plane 1\.35\.1, Node reports v1\.35\.1$/m);
        for (const worker of ['k8s-node2', 'k8s-node3']) {
          expect(result.stdout).toMatch(new RegExp(`^ {4}${worker} +worker +yes +yes +yes +yes +kubelet 1\\.35\\.1, kubeadm 1\\.35\\.1, Node reports v1\\.35\\.1$`, 'm'));
        }
        // kubeadm's add-ons, then every DaemonSet and Deployment this config renders.
        const addons = [...result.stdout.matchAll(/^ {4}(ok {2}|WAIT) (\S+) +(.+)$/gm)].filter((m) => m[2].includes('/')).map((m) => `${m[1].trim()} ${m[2]} ${m[3]}`);
        expect(addons).toEqual([
          'ok kube-system/deployment/coredns 2/2 ready',
          'ok kube-system/daemonset/kube-proxy 3/3 ready',
          'ok kube-flannel/daemonset/kube-flannel-ds 3/3 ready',
          'ok traefik/daemonset/traefik 3/3 ready',
          'ok default/deployment/tomcat6 3/3 ready',
        ]);
        expect(result.stdout).toMatch(/^ {4}ok {3}k8s-node3 Ingress +http:\/\/127\.0\.0\.3\/ \(Host: tomcat6\.touch\.air\.mall\.com\) -> 200$/m);
        expect(result.stdout).toContain('==> status: healthy; nothing was changed');
        expect(mutating(cluster)).toEqual(noChanges(cluster));
        expect(trees(cluster)).toEqual(before);
      });

      test('a node down and failing checks: each said, exit 1, the rest still reported, nothing changed', () => {
        clearAll(cluster);
        const down = withUnreachable(cluster, 'k8s-node3', 'node3-down.yaml');
        cluster.nodes['k8s-node1'].failOn('curl -s -o /dev/null -w %{http_code} --max-time 10 -H');
        try {
          const result = command(down, sshd, ['status']);
          expect(result.code).toBe(1);
          expect(result.stdout).toMatch(/^ {4}k8s-node3 +worker +no +\? +\? +yes +-$/m);
          expect(result.stdout).toMatch(/^ {4}k8s-node2 +worker +yes +yes +yes +yes /m);
          expect(result.stdout).toMatch(/^ {4}FAIL k8s-node2 Ingress +http:\/\/127\.0\.0\.2\/ \(Host: tomcat6\.touch\.air\.mall\.com\) -> 000$/m);
          expect(result.stdout).toContain('==> status: not healthy (2 problem(s)); nothing was changed');
          const problems = result.stderr.trim().split('\n');
          expect(problems).toHaveLength(2);
          expect(problems[0]).toMatch(/^status: k8s-node3: cannot reach root@127\.0\.0\.3:1 over SSH \(.+\)$/);
          expect(problems[1]).toBe('status: 2 of 5 HTTP check(s) failed');
          expect(mutating(cluster)).toEqual(noChanges(cluster));
        } finally {
          cluster.nodes['k8s-node1'].failOn();
        }
      });

      test('runs as an npm script too, from the folder the config is in', () => {
        const result = spawnSync('npm', ['run', '-s', '--prefix', ROOT, 'status', '--', '--ssh-config', sshd.sshConfig], {
          cwd: cluster.dir, encoding: 'utf8', timeout: 240_000,
          env: { ...process.env, KUBE_HOSTS_SANDBOX: path.join(cluster.dir, 'nodes') },
        });
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        expect(result.stdout).toMatch(/^ {4}k8s-node1 +control-plane +yes/m);
        expect(result.stdout).toContain('==> status: healthy; nothing was changed');
      });
    });

    test('a node that cannot be reached stops the run before any change; the reason is in bootstrap.log too', () => {
      clearAll(cluster);
      const down = withUnreachable(cluster, 'k8s-node2', 'node2-down.yaml');
      const result = bootstrap(down, sshd);
      expect(result.code).toBe(1);
      expect(result.stdout.split('\n')[0]).toBe(`logs: ${down.logs}/`);
      expect(result.stderr).toMatch(/^k8s-node2: cannot reach root@127\.0\.0\.2:1 over SSH \(.+\)\n$/);
      expect(readFileSync(path.join(down.logs, 'bootstrap.log'), 'utf8')).toContain(result.stderr.trim());
      expect(mutating(cluster)).toEqual(noChanges(cluster));
    });

    test.each([
      ['BOOTSTRAP_HEARTBEAT_SECONDS', 'soon', 'BOOTSTRAP_HEARTBEAT_SECONDS=soon: must be a whole number from 0 to 3600, or unset (default 30)'],
      ['BOOTSTRAP_RETRY_DELAY_MS', '-5', 'BOOTSTRAP_RETRY_DELAY_MS=-5: must be a whole number from 0 to 600000, or unset (default 5000)'],
      ['BOOTSTRAP_WAIT_SECONDS', '0', 'BOOTSTRAP_WAIT_SECONDS=0: must be a whole number from 1 to 86400, or unset (default 300)'],
    ])('%s=%s is one line and exit 1, before any log or node is touched', (name, value, message) => {
      clearAll(cluster);
      const logs = path.join(cluster.dir, `logs-${name}`);
      const result = bootstrap({ ...cluster, logs }, sshd, [], { [name]: value });
      expect(result).toMatchObject({ code: 1, stdout: '', stderr: `${message}\n` });
      expect(existsSync(logs)).toBe(false);
      expect(mutating(cluster)).toEqual(noChanges(cluster));
    });
  });
}
