/**
 * scripts/bootstrap.mjs for real across three fake hosts (see
 * fakehost/cluster.ts): the dry run, a whole run, a re-run and a reset.
 * The faults are in bootstrap-faults.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { caCertHash } from '../hosts/node/kubeadm';
import { parse, stringify } from 'yaml';
import { renderManifests } from '../charts/app';
import { loadClusterConfig } from '../config/load';
import { bootstrap, type Cluster, clearAll, clusterFile, command, makeCluster, mutating, onTerminal, trees } from './fakehost/cluster';
import { Sandbox } from './fakehost/sandbox';
import { sshdForTests } from './fakehost/sshd';
import { ROOT } from './helpers';

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
    expect(out).toContain('  # input of the next command: 0001-traefik.yaml, rendered from the cluster config\n');
    expect(out).toContain('  # check: kubectl --kubeconfig=/etc/kubernetes/admin.conf -n traefik rollout status daemonset/traefik --timeout=300s');
    // The apply's last wait: kubeadm's CoreDNS, after every stage.
    const apply = out.slice(out.indexOf('==> apply'), out.indexOf('==> verify'));
    expect(apply.split('\n').filter((l) => l.startsWith('  # check: ')).at(-1)).toBe('  # check: kubectl --kubeconfig=/etc/kubernetes/admin.conf -n kube-system rollout status deployment/coredns --timeout=300s');
    // Traefik has no admission webhook to wait for.
    expect(out).not.toContain('caBundle');
    // Commands as a shell takes them: quoted where a shell would split or expand them.
    const curl = out.split('\n').find((line) => line.includes('http://192.168.83.135/') && line.includes('Host:'))!;
    expect(curl).toBe("  # check: curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Host: tomcat6.touch.air.mall.com' http://192.168.83.135/");
    const argv = spawnSync('bash', ['-c', `printf '%s\\n' ${curl.replace('  # check: ', '')}`], { encoding: 'utf8' }).stdout.split('\n');
    expect(argv).toContain('Host: tomcat6.touch.air.mall.com');
    expect(argv).toContain('%{http_code}');
    // The model's facts are said to be assumed, and the short plan leaves file contents to --verbose.
    expect(out).toContain('dry run: each node is planned as a fresh machine of its nodes[].os (default el9); facts and file contents it reads there are assumed, not observed; --verbose shows the files written');
    expect(out).toContain('share the hostname localhost.localdomain (assumed, as for fresh clones)');
    expect(out).toMatch(/^  --- write \/etc\/hosts \(mode 0644, previous content kept as \/etc\/hosts\.bak-<time>, 7 line\(s\)\)$/m);
    expect(out).not.toMatch(/^  \| /m);
    expect(out).toContain('dry run: nothing was run, nothing was written');
  });

  test('BOOTSTRAP_WAIT_SECONDS sets how long every wait of the apply may take (slow machines)', () => {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--dry-run'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, BOOTSTRAP_WAIT_SECONDS: '1200' } });
    expect(result.status).toBe(0);
    const waits = result.stdout.split('\n').filter((line) => line.startsWith('  # check: kubectl') && /\b(wait|rollout status)\b/.test(line));
    expect(waits.length).toBeGreaterThanOrEqual(4);
    for (const line of waits) expect(line).toMatch(/ --timeout=1200s$/);
    expect(result.stdout).not.toContain('--timeout=300s');
  });

  test('with ingress.api: gateway, the plan has the Gateway API\'s stage and each wait of the Gateway API', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gateway-plan-'));
    const config = path.join(dir, 'cluster.yaml');
    writeFileSync(config, readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8').replace(/^ingress:\n/m, 'ingress:\n  api: gateway\n'));
    const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--dry-run', '--config', config], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status).toBe(0);
    const apply = result.stdout.slice(result.stdout.indexOf('==> apply'), result.stdout.indexOf('==> verify'));
    expect(apply.split('\n').filter((l) => l.startsWith('  # input of the next command:')).map((l) => l.split(' ')[8])).toEqual(['0000-flannel.yaml,', '0001-gateway-api.yaml,', '0002-traefik.yaml,', '0003-tomcat6.yaml,']);
    expect(apply).toMatch(/# check: kubectl --kubeconfig=\/etc\/kubernetes\/admin\.conf wait --for=condition=Established crd\/backendtlspolicies\.gateway\.networking\.k8s\.io .* crd\/udproutes\.gateway\.networking\.k8s\.io --timeout=300s/);
    expect(apply).toContain('# check: kubectl --kubeconfig=/etc/kubernetes/admin.conf -n traefik wait --for=condition=Programmed gateway/traefik-gateway --timeout=300s');
    expect(apply).toContain(`# check: kubectl --kubeconfig=/etc/kubernetes/admin.conf wait '--for=jsonpath={.status.parents[?(@.parentRef.name=="traefik-gateway")].conditions[?(@.type=="Accepted")].status}=True' httproute/tomcat6 --timeout=300s`);
  });

  test('with dashboard.enabled, the plan applies the dashboard last, waits for its rollout and checks its host', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dashboard-plan-'));
    const config = path.join(dir, 'cluster.yaml');
    writeFileSync(config, `${readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8')}\ndashboard:\n  enabled: true\n`);
    const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--dry-run', '--config', config], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status).toBe(0);
    const apply = result.stdout.slice(result.stdout.indexOf('==> apply'), result.stdout.indexOf('==> summary'));
    expect(apply.split('\n').filter((l) => l.startsWith('  # input of the next command:')).map((l) => l.split(' ')[8])).toEqual(['0000-flannel.yaml,', '0001-traefik.yaml,', '0002-tomcat6.yaml,', '0003-dashboard.yaml,']);
    expect(apply).toContain('# check: kubectl --kubeconfig=/etc/kubernetes/admin.conf -n headlamp rollout status deployment/headlamp --timeout=300s');
    expect(apply).toContain("# check: curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Host: dashboard.touch.air.mall.com' http://192.168.83.135/");
  });
});

const sshd = sshdForTests('bootstrap over SSH');
if (sshd) {
  describe('a three-node cluster from bare fake hosts', () => {
    let cluster: Cluster;
    let first: ReturnType<typeof bootstrap>;
    let refusedFirst: ReturnType<typeof bootstrap>;
    let declinedFirst: ReturnType<typeof onTerminal>;
    let changedByRefusals: string[][];
    beforeAll(() => {
      cluster = makeCluster(sshd);
      // Asked first, with no terminal and no --yes; then on a terminal, answered no; then with --yes.
      refusedFirst = bootstrap(cluster, sshd, [], {}, true);
      declinedFirst = onTerminal(cluster, sshd, [], 'no\n');
      changedByRefusals = Object.values(mutating(cluster)).flat();
      first = bootstrap(cluster, sshd);
    });

    test('a run that will change the nodes says what first and asks: no terminal and no --yes is a refusal (exit 2), anything but yes too; nothing touched', () => {
      expect(refusedFirst.code).toBe(2);
      const said = refusedFirst.stdout.slice(refusedFirst.stdout.indexOf('    this run will change:'));
      expect(said.split('\n').slice(0, 5)).toEqual([
        '    this run will change:',
        '      k8s-node1 (127.0.0.1): prepared (containerd, kubelet/kubeadm/kubectl 1.35.1 held, swap off, kernel settings, firewall ports); then kubeadm init: a new cluster, Kubernetes 1.35.1',
        '      k8s-node2 (127.0.0.2): prepared (containerd, kubelet/kubeadm/kubectl 1.35.1 held, swap off, kernel settings, firewall ports); then kubeadm join',
        '      k8s-node3 (127.0.0.3): prepared (containerd, kubelet/kubeadm/kubectl 1.35.1 held, swap off, kernel settings, firewall ports); then kubeadm join',
        '      then the manifests of flannel, traefik, tomcat6, applied on the control plane',
      ]);
      expect(refusedFirst.stdout).not.toContain('==> prep');
      expect(refusedFirst.stderr).toBe('the run would change the nodes above; there is no terminal to ask on, so pass --yes to go on (or --dry-run to see the whole plan); nothing was touched\n');
      expect(declinedFirst.code).toBe(2);
      expect(declinedFirst.output).toContain('Type yes to go on: ');
      expect(declinedFirst.output).toContain('bootstrap not confirmed (answer: "no"); nothing was touched');
      expect(declinedFirst.output).not.toContain('==> prep');
      expect(changedByRefusals).toEqual([]);
      expect(first.stdout).toContain('    this run will change:');
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

    test('the manifests come from the config it runs with, a copy beside the logs; no dist/ is written', () => {
      expect(first.stdout).toContain(`manifests rendered from cluster.yaml; applied as ${path.join(cluster.logs, 'manifests')}/`);
      const rendered = renderManifests(loadClusterConfig(cluster.config));
      expect(readdirSync(path.join(cluster.logs, 'manifests'))).toEqual(['0000-flannel.yaml', '0001-traefik.yaml', '0002-tomcat6.yaml']);
      for (const manifest of rendered) expect(readFileSync(path.join(cluster.logs, 'manifests', manifest.file), 'utf8')).toBe(manifest.yaml);
      expect(readdirSync(cluster.dir)).not.toContain('dist');
    });

    test('dist/ applied in stages, with the waits in between', () => {
      const log = clusterFile(cluster, 'kubectl.log').trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' '));
      expect(log).toEqual([
        'apply Namespace/kube-flannel', 'waited nodes-ready',
        'apply Namespace/traefik', 'waited rollout',
        'apply Deployment/tomcat6', 'waited rollout',
        // The apply's last wait: kubeadm's CoreDNS (the cluster's DNS).
        'waited rollout',
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
      expect(readdirSync(cluster.logs).sort()).toEqual(['bootstrap.log', 'k8s-node1.log', 'k8s-node2.log', 'k8s-node3.log', 'manifests']);
      const tokens = JSON.parse(clusterFile(cluster, 'tokens.json')) as { token: string }[];
      const logs = readdirSync(cluster.logs).filter((f) => f.endsWith('.log'));
      const everything = [first.stdout, first.stderr, ...logs.map((f) => readFileSync(path.join(cluster.logs, f), 'utf8'))].join('\n');
      expect(readFileSync(path.join(cluster.logs, 'k8s-node2.log'), 'utf8')).toContain('kubeadm join: joined 127.0.0.1:6443');
      // Tokens did pass through the log (kubeadm init's join command, kubeadm token create's output), masked.
      const cpLog = readFileSync(path.join(cluster.logs, 'k8s-node1.log'), 'utf8');
      expect(cpLog).toMatch(/ > kubeadm join 127\.0\.0\.1:6443 --token [a-z0-9]{6}\.\*{16} /);
      for (const { token } of tokens.slice(1)) expect(cpLog).toContain(` > ${token.split('.')[0]}.****************`);
      for (const { token } of tokens) expect(everything).not.toContain(token.split('.')[1]);
      const clientKey = /client-key-data: (\S+)/.exec(cluster.nodes['k8s-node1'].readFile('/etc/kubernetes/admin.conf')!)![1];
      expect(everything).not.toContain(clientKey.slice(0, 40));
    });

    test('a second run changes nothing on any node and says so', () => {
      const before = trees(cluster);
      clearAll(cluster);
      // Nothing to ask on a converged cluster: no --yes needed, none asked for.
      const again = bootstrap(cluster, sshd, [], {}, true);
      expect(again.code).toBe(0);
      expect(again.stdout).not.toContain('this run will change:');
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

    test('a dry run against the real nodes (--dry-run --connect) reads them, changes nothing, and says what a run would change: only the edited replicas', () => {
      clearAll(cluster);
      const before = trees(cluster);
      // The config asks for 5 replicas now: the plan names the Deployment and nothing else, and changes nothing.
      const original = readFileSync(cluster.config, 'utf8');
      writeFileSync(cluster.config, stringify({ ...parse(original), tomcat6: { replicas: 5 } }));
      const plan = bootstrap(cluster, sshd, ['--dry-run', '--connect']);
      writeFileSync(cluster.config, original);
      expect(plan.stderr).toBe('');
      expect(plan.code).toBe(0);
      expect(plan.stdout).toContain('dry run against the real nodes: facts, files and checks are read from them; nothing is written there and no command that changes anything runs');
      expect(plan.stdout).toMatch(/k8s-node2 +ssh root@127\.0\.0\.2:\d+ \(connected; read only\)/);
      for (const stage of ['flannel', 'traefik']) expect(plan.stdout).toContain(`  # ${stage}: no object would change`);
      expect(plan.stdout).toContain('  # tomcat6: would change 1 object(s): apps.v1.Deployment.default.tomcat6');
      // The nodes are prepared as configured: no file would be written on any of them.
      expect(plan.stdout).not.toContain('  --- write ');
      expect(trees(cluster)).toEqual(before);
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
      expect(bootstrap(cluster, sshd, ['--connect']).stderr).toBe('--connect goes with --dry-run: it plans against the real nodes without changing them (a run without --dry-run connects anyway)\n');
    });

    test('a changed kubernetes.version is refused before any change, one line per node with the ways out', () => {
      const original = readFileSync(cluster.config, 'utf8');
      writeFileSync(cluster.config, original.replace("version: '1.35.1'", "version: '1.35.4'").replace('version: 1.35.1', 'version: 1.35.4'));
      clearAll(cluster);
      const before = trees(cluster);
      const result = bootstrap(cluster, sshd);
      writeFileSync(cluster.config, original);
      expect(result.code).toBe(1);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines).toEqual([
        expect.stringMatching(/^k8s-node1: has the control plane 1\.35\.1, kubeadm 1\.35\.1, kubelet 1\.35\.1, but kubernetes\.version is 1\.35\.4; changing the version of a cluster is an upgrade: run scripts\/bootstrap\.mjs upgrade \(npm run upgrade\), or set kubernetes\.version back to 1\.35\.1$/),
        expect.stringMatching(/^k8s-node2: has kubeadm 1\.35\.1, kubelet 1\.35\.1, but kubernetes\.version is 1\.35\.4;/),
        expect.stringMatching(/^k8s-node3: has kubeadm 1\.35\.1, kubelet 1\.35\.1, but kubernetes\.version is 1\.35\.4;/),
      ]);
      expect(trees(cluster)).toEqual(before);
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });

    test('reset asks first: with no terminal and no --yes it refuses (exit 2) before touching anything', () => {
      clearAll(cluster);
      const refused = bootstrap(cluster, sshd, ['reset']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe('reset runs kubeadm reset --force on k8s-node1, k8s-node2, k8s-node3: what Kubernetes kept there is deleted; there is no terminal to ask on, so pass --yes to go on\n');
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
      expect(cluster.nodes['k8s-node2'].readFile('/etc/kubernetes/kubelet.conf')).toBeDefined();
    });

    test('reset asks first: on a terminal, anything but `yes` keeps the cluster', () => {
      clearAll(cluster);
      const answered = onTerminal(cluster, sshd, ['reset', '--only', 'k8s-node3'], 'no\n');
      expect(answered.code).toBe(2);
      expect(answered.output).toContain('reset runs kubeadm reset --force on k8s-node3: what Kubernetes kept there is deleted.\r\nType yes to go on: ');
      expect(answered.output).toContain('reset not confirmed (answer: "no"); nothing was touched');
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });

    test('reset --only a worker: drained, reset, its Node object deleted; the rest of the cluster stays', () => {
      clearAll(cluster);
      const result = bootstrap(cluster, sshd, ['reset', '--only', 'k8s-node3', '--yes']);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect([...result.stdout.matchAll(/^==> (.+)$/gm)].map((m) => m[1])).toEqual(['connect', 'facts', 'drain', 'reset workers', 'remove nodes', 'summary']);
      const log = clusterFile(cluster, 'kubectl.log');
      expect(log.indexOf('drained k8s-node3')).toBeGreaterThanOrEqual(0);
      expect(log.indexOf('deleted node k8s-node3')).toBeGreaterThan(log.indexOf('drained k8s-node3'));
      expect(readdirSync(path.join(cluster.nodes['k8s-node1'].cluster, 'nodes')).sort()).toEqual(['k8s-node1', 'k8s-node2']);
      expect(cluster.nodes['k8s-node3'].readFile('/etc/kubernetes/kubelet.conf')).toBeUndefined();
      expect(cluster.nodes['k8s-node2'].readFile('/etc/kubernetes/kubelet.conf')).toBeDefined();
      expect(cluster.nodes['k8s-node1'].readFile('/etc/kubernetes/admin.conf')).toBeDefined();
    });

    test('reset --only the control plane, without its workers, is refused before anything is touched', () => {
      clearAll(cluster);
      const result = bootstrap(cluster, sshd, ['reset', '--only', 'k8s-node1', '--yes']);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe('reset --only k8s-node1: k8s-node1, the first control plane (kubeadm init ran there, and the cluster-wide commands run there), goes only with the whole cluster; reset the other nodes alone (--only k8s-node2,k8s-node3) or everything (no --only)\n');
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });

    test('reset takes the cluster down, workers first, and a second reset changes nothing', () => {
      const reset = bootstrap(cluster, sshd, ['reset', '--yes']);
      expect(reset.code).toBe(0);
      expect(reset.stdout.indexOf('==> reset workers')).toBeLessThan(reset.stdout.indexOf('==> reset control plane'));
      for (const node of Object.values(cluster.nodes)) expect(node.readFile('/etc/kubernetes/kubelet.conf')).toBeUndefined();
      clearAll(cluster);
      const again = bootstrap(cluster, sshd, ['reset', '--yes']);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/k8s-node2 +reset workers done: nothing to change/);
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });
  });
}

if (sshd) {
  describe('with the tutorial\'s ingress-nginx (ingress.controller: ingress-nginx)', () => {
    let cluster: Cluster;
    let first: ReturnType<typeof bootstrap>;
    beforeAll(() => {
      cluster = makeCluster(sshd, { config: { ingress: { controller: 'ingress-nginx' } } });
      first = bootstrap(cluster, sshd);
    });

    test('goes all the way; one warning line on stderr that it is retired upstream', () => {
      expect(first.code).toBe(0);
      expect(first.stderr).toBe('warning: ingress.controller: ingress-nginx is retired upstream and unmaintained (v1.15.1, March 2026, is its last release; no fixes, security fixes included); traefik is the maintained default\n');
      expect(readdirSync(path.join(cluster.logs, 'manifests'))).toEqual(['0000-flannel.yaml', '0001-ingress-nginx.yaml', '0002-tomcat6.yaml']);
    });

    test('its stage waits for the rollout and for the admission webhook\'s CA before the Ingress goes in', () => {
      const log = clusterFile(cluster, 'kubectl.log').trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' '));
      expect(log).toEqual([
        'apply Namespace/kube-flannel', 'waited nodes-ready',
        'apply Namespace/ingress-nginx', 'waited rollout', 'waited webhook-ca',
        'apply Deployment/tomcat6', 'waited rollout',
        'waited rollout',
      ]);
    });

    test('a re-run leaves the admission Jobs out once their Secret exists, and changes nothing', () => {
      clearAll(cluster);
      // Nothing to ask on a converged cluster: no --yes needed, none asked for.
      const again = bootstrap(cluster, sshd, [], {}, true);
      expect(again.code).toBe(0);
      expect(again.stdout).not.toContain('this run will change:');
      expect(again.stdout).toMatch(/apply done: 3 stages unchanged/);
      const applied = clusterFile(cluster, 'kubectl.log').trim().split('\n').filter((l) => l.startsWith('apply Namespace/ingress-nginx'));
      // The first run's apply had them; the second's does not.
      expect(applied).toHaveLength(2);
      expect(applied[0]).toContain('Job/ingress-nginx-admission-create');
      expect(applied[1]).not.toContain('Job/');
    });
  });
}

if (sshd) {
  describe('with the Gateway API (ingress.api: gateway)', () => {
    let cluster: Cluster;
    let first: ReturnType<typeof bootstrap>;
    beforeAll(() => {
      cluster = makeCluster(sshd, { config: { ingress: { api: 'gateway' } } });
      first = bootstrap(cluster, sshd);
    });

    test('goes all the way, with the Gateway API\'s CRDs as a stage of their own', () => {
      expect(first.code).toBe(0);
      expect(first.stderr).toBe('');
      expect(readdirSync(path.join(cluster.logs, 'manifests'))).toEqual(['0000-flannel.yaml', '0001-gateway-api.yaml', '0002-traefik.yaml', '0003-tomcat6.yaml']);
    });

    test('the CRDs Established before Traefik\'s Gateway goes in; the Gateway Programmed before tomcat6; the HTTPRoute Accepted before the checks', () => {
      const log = clusterFile(cluster, 'kubectl.log').trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' '));
      expect(log).toEqual([
        'apply Namespace/kube-flannel', 'waited nodes-ready',
        'apply CustomResourceDefinition/backendtlspolicies.gateway.networking.k8s.io', 'waited crds-established',
        'apply Namespace/traefik', 'waited rollout', 'waited gateway-programmed',
        'apply Deployment/tomcat6', 'waited rollout', 'waited httproute-accepted',
        'waited rollout',
      ]);
    });

    test('checks through the Gateway on port 80 with the Host header, and says so in the summary', () => {
      expect(clusterFile(cluster, 'curl.log')).toContain('-H Host: tomcat6.touch.air.mall.com http://127.0.0.2/');
      expect(first.stdout).toMatch(/ok +k8s-node3 Gateway +http:\/\/127\.0\.0\.3\/ \(Host: tomcat6\.touch\.air\.mall\.com\) -> 200/);
      expect(first.stdout).toContain('http://tomcat6.touch.air.mall.com/   (Gateway; add this line to your laptop\'s hosts file:)');
    });

    test('a re-run changes nothing', () => {
      clearAll(cluster);
      // Nothing to ask on a converged cluster: no --yes needed, none asked for.
      const again = bootstrap(cluster, sshd, [], {}, true);
      expect(again.code).toBe(0);
      expect(again.stdout).not.toContain('this run will change:');
      expect(again.stdout).toMatch(/apply done: 4 stages unchanged/);
    });
  });
}

if (sshd) {
  describe('with the dashboard (dashboard.enabled)', () => {
    let cluster: Cluster;
    let first: ReturnType<typeof bootstrap>;
    beforeAll(() => {
      cluster = makeCluster(sshd, { config: { dashboard: { enabled: true } } });
      first = bootstrap(cluster, sshd);
    });

    test('goes all the way, Headlamp as the last stage, rolled out before the checks', () => {
      expect(first.code).toBe(0);
      expect(readdirSync(path.join(cluster.logs, 'manifests'))).toEqual(['0000-flannel.yaml', '0001-traefik.yaml', '0002-tomcat6.yaml', '0003-dashboard.yaml']);
      const log = clusterFile(cluster, 'kubectl.log').trim().split('\n').map((l) => l.split(' ').slice(0, 3).join(' '));
      expect(log).toEqual([
        'apply Namespace/kube-flannel ClusterRole/flannel', 'waited nodes-ready',
        'apply Namespace/traefik ServiceAccount/traefik', 'waited rollout traefik',
        'apply Deployment/tomcat6 PodDisruptionBudget/tomcat6', 'waited rollout tomcat6',
        'apply Namespace/headlamp ServiceAccount/headlamp', 'waited rollout headlamp',
        'waited rollout coredns',
      ]);
    });

    test('checks the dashboard host through the controller, and the summary says how to open it', () => {
      expect(clusterFile(cluster, 'curl.log')).toContain('-H Host: dashboard.touch.air.mall.com http://127.0.0.2/');
      expect(first.stdout).toMatch(/ok +k8s-node3 dashboard +http:\/\/127\.0\.0\.3\/ \(Host: dashboard\.touch\.air\.mall\.com\) -> 200/);
      expect(first.stdout).toContain('http://dashboard.touch.air.mall.com/   (the dashboard, Headlamp; sign in with a token from scripts/bootstrap.mjs dashboard)');
      expect(first.stdout).toContain('127.0.0.2  tomcat6.touch.air.mall.com dashboard.touch.air.mall.com');
      expect(first.stdout).toMatch(/scripts\/bootstrap\.mjs dashboard --config \S+ --ssh-config \S+ +\(the dashboard's address and a short-lived login token\)/);
    });

    test('`dashboard` prints the address and a fresh token of the login account, for the configured time, and writes it nowhere', () => {
      const result = command(cluster, sshd, ['dashboard']);
      expect(result.code).toBe(0);
      const lines = result.stdout.trim().split('\n');
      // The way to sign in keeps the token off the network: kubectl's port-forward through the API server's TLS.
      expect(lines[0]).toBe('dashboard: KUBECONFIG=./kubeconfig kubectl -n headlamp port-forward service/headlamp 4466:80 then open http://127.0.0.1:4466/   (Headlamp, through the API server\'s TLS: the token never crosses the network in clear)');
      expect(lines[1]).toBe('also at http://dashboard.touch.air.mall.com/ through the ingress controller (hosts file: 127.0.0.2  dashboard.touch.air.mall.com): plain HTTP, so not for signing in on a network you do not trust');
      expect(lines[2]).toBe('sign in with this token, valid 1h (ServiceAccount headlamp/headlamp-login, ClusterRole view; stored nowhere, run this again for a new one):');
      expect(lines[3]).toMatch(/^eyJhbGciOiJSUzI1NiJ9\.fake-token-for-headlamp-login\.[0-9a-f]{24}$/);
      expect(clusterFile(cluster, 'kubectl.log')).toContain('token headlamp-login --duration=60m');
      // Nowhere on disk: not in the run's logs, not in the cluster's folder (the fake nodes included).
      const grep = spawnSync('grep', ['-rlF', lines[3].split('.')[2], cluster.dir], { encoding: 'utf8' });
      expect(grep.stdout).toBe('');
      const again = command(cluster, sshd, ['dashboard', '--duration', '30m']);
      expect(again.stdout.split('\n')[3]).not.toBe(lines[3]);
      expect(clusterFile(cluster, 'kubectl.log')).toContain('token headlamp-login --duration=30m');
    });

    test('`dashboard --duration` outside 10m-24h is refused before anything is reached', () => {
      const result = command(cluster, sshd, ['dashboard', '--duration', '7d']);
      expect(result).toMatchObject({ code: 1, stdout: '' });
      expect(result.stderr.trim()).toBe('--duration 7d: must be minutes or hours, e.g. 30m or 1h');
    });
  });
}

describe('a cluster of one node (the control plane, no worker)', () => {
  let dir: string;
  let node: Sandbox;
  let result: ReturnType<typeof spawnSync>;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'single-'));
    node = new Sandbox('el9', { address: '127.0.0.1' });
    mkdirSync(path.join(dir, 'nodes'));
    symlinkSync(node.base, path.join(dir, 'nodes', 'k8s-node1'));
    writeFileSync(path.join(dir, 'cluster.yaml'), stringify({ kubernetes: { version: '1.35.1' }, nodes: [{ name: 'k8s-node1', address: '127.0.0.1', role: 'control-plane' }] }));
    result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--config', 'cluster.yaml', '--log-dir', path.join(dir, 'logs'), '--yes'], {
      cwd: dir, encoding: 'utf8', timeout: 240_000,
      env: { ...process.env, KUBE_HOSTS_SANDBOX: path.join(dir, 'nodes'), BOOTSTRAP_RETRY_DELAY_MS: '10', INIT_CWD: dir },
    });
  });

  test('goes all the way: the control plane keeps no taint, so the controller and tomcat6 run there', () => {
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(node.fakeState<any[]>('kubeadm-init.json')[0].nodeRegistration.taints).toEqual([]);
    expect(result.stdout).not.toContain('==> join');
    expect(readFileSync(path.join(dir, 'logs', 'k8s-node1.log'), 'utf8')).toContain('a cluster of one node: the control plane gets no taint');
  });

  test('the ingress ports are open on that node, and the Ingress is checked there', () => {
    expect(node.fakeState<{ ports: string[] }>('firewalld.json').ports).toEqual(expect.arrayContaining(['6443/tcp', '80/tcp', '443/tcp']));
    expect(result.stdout).toMatch(/ok +k8s-node1 Ingress +http:\/\/127\.0\.0\.1\/ \(Host: tomcat6\.touch\.air\.mall\.com\) -> 200/);
    expect(result.stdout).toContain('      127.0.0.1  tomcat6.touch.air.mall.com');
  });

  test('the dry run says so too', () => {
    const plan = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--config', 'cluster.yaml', '--dry-run'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, INIT_CWD: dir } });
    expect(plan.status).toBe(0);
    expect(plan.stdout).toContain('a cluster of one node: the control plane gets no taint (nodeRegistration.taints: [])');
    expect(plan.stdout).toContain('--add-port=80/tcp');
    // The short plan names the kubeadm config; --verbose shows what is in it.
    expect(plan.stdout).toMatch(/^  --- write \/etc\/kubernetes\/kubeadm-init\.yaml \(mode 0600, \d+ line\(s\)\)$/m);
    expect(plan.stdout).not.toMatch(/^  \| /m);
    const verbose = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--config', 'cluster.yaml', '--dry-run', '--verbose'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, INIT_CWD: dir } });
    expect(verbose.status).toBe(0);
    expect(verbose.stdout).toMatch(/^  \|   taints: \[\]$/m);
  });
});
