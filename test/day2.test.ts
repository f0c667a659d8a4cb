/**
 * Day 2 of scripts/bootstrap.mjs on fake hosts (fakehost/cluster.ts): the plans of upgrade, backup, restore and
 * certs renew (no SSH), their refusals before anything is touched, and each command run on a fake cluster of
 * three nodes: an upgrade 1.35.1 -> 1.36.5, a backup and its restore, the certificates' report and renewal.
 * The real cluster (test/cluster/real-cluster.clustertest.ts) proves the same commands on real kubeadm and etcd.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { bootstrap, type Cluster, clearAll, clusterFile, command, makeCluster, mutating, onTerminal, trees } from './fakehost/cluster';
import { sshdForTests } from './fakehost/sshd';
import { ROOT } from './helpers';

const script = path.join(ROOT, 'scripts', 'bootstrap.mjs');
/** A plan of the committed cluster.yaml, with nothing on PATH but bash: no SSH, no command could run. */
function plan(args: string[]) {
  const empty = mkdtempSync(path.join(tmpdir(), 'nobin-'));
  spawnSync('ln', ['-s', '/bin/bash', path.join(empty, 'bash')]);
  const result = spawnSync(process.execPath, [script, ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: empty, INIT_CWD: ROOT } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
const phases = (out: string) => [...out.matchAll(/^==> (\S+(?: \S+)*)$/gm)].map((m) => m[1]);
const committedVersion = String((parse(readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8')) as { kubernetes: { version: string } }).kubernetes.version);

describe('plans (--dry-run): node by node, on assumed facts said to be assumed, with no SSH', () => {
  test('upgrade: the control plane (repository, kubeadm package, upgrade plan and apply, drain, kubelet, uncordon), then each worker with upgrade node, then the add-ons and checks', () => {
    const result = plan(['upgrade', '--dry-run', '--verbose']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(phases(out)).toEqual(['connect', 'facts', 'upgrade control plane', 'upgrade workers', 'apply', 'verify', 'summary']);
    expect(out).toContain('dry run: each node is planned as a node of a running cluster at Kubernetes 1.36.5 of its nodes[].os (default el9); facts and file contents it reads there are assumed, not observed');
    const cp = out.slice(out.indexOf('==> upgrade control plane'), out.indexOf('==> upgrade workers'));
    const order = [`/v${committedVersion.split('.').slice(0, 2).join('.')}/rpm/`, 'kubeadm', `kubeadm upgrade plan v${committedVersion}`, `kubeadm upgrade apply v${committedVersion} --yes`, 'drain k8s-node1', 'kubelet', 'systemctl restart kubelet', 'uncordon k8s-node1'];
    let at = 0;
    for (const text of order) {
      const found = cp.indexOf(text, at);
      expect([text, found >= 0]).toEqual([text, true]);
      at = found;
    }
    const workers = out.slice(out.indexOf('==> upgrade workers'), out.indexOf('==> apply'));
    for (const name of ['k8s-node2', 'k8s-node3']) {
      expect(workers).toContain(`[${name}] upgrade / kubeadm upgrade node`);
      expect(workers).toContain(`drain ${name} --ignore-daemonsets`);
      expect(workers).toContain(`uncordon ${name}`);
    }
    expect(workers).toContain('kubeadm upgrade node');
    expect(workers).not.toContain('upgrade apply');
    expect(out).toContain('dry run: nothing was run, nothing was written');
  });

  test('upgrade with kubernetes.allowCgroupV1: kubeadm\'s SystemVerification check is ignored, as at init and join', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'upgrade-cgroupv1-'));
    writeFileSync(path.join(dir, 'cluster.yaml'), readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8').replace(/^kubernetes:\n/m, 'kubernetes:\n  allowCgroupV1: true\n'));
    const result = plan(['upgrade', '--dry-run', '--config', path.join(dir, 'cluster.yaml')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`$ kubeadm upgrade plan v${committedVersion} --ignore-preflight-errors=SystemVerification\n`);
    expect(result.stdout).toContain(`$ kubeadm upgrade apply v${committedVersion} --yes --ignore-preflight-errors=SystemVerification\n`);
    expect(result.stdout.match(/\$ kubeadm upgrade node --ignore-preflight-errors=SystemVerification\n/g)).toHaveLength(2);
    expect(plan(['upgrade', '--dry-run']).stdout).not.toContain('--ignore-preflight-errors');
  });

  test('backup: etcdctl in the etcd pod, etcdutl checks, the copy, the removal; nothing written here', () => {
    const result = plan(['backup', '--dry-run']);
    expect(result.code).toBe(0);
    expect(phases(result.stdout)).toEqual(['connect', 'facts', 'backup', 'summary']);
    expect(result.stdout).toMatch(/kubectl --kubeconfig=\/etc\/kubernetes\/admin\.conf -n kube-system exec etcd-k8s-node1 -- etcdctl .*snapshot save \/var\/lib\/etcd\/\S+\.db/);
    expect(result.stdout).toMatch(/etcdutl snapshot status \/var\/lib\/etcd\/\S+\.db -w json/);
    expect(result.stdout).toMatch(/rm -f \/var\/lib\/etcd\/\S+\.db/);
    expect(existsSync(path.join(ROOT, 'backups'))).toBe(false);
  });

  test('restore FILE: the snapshot checked here first; then stop, restore into a new folder, swap, start, every node Ready', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'restore-plan-'));
    writeFileSync(path.join(dir, 'a.db'), 'not checked in a plan beyond being there');
    const result = plan(['restore', path.join(dir, 'a.db'), '--dry-run']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(phases(result.stdout)).toEqual(['connect', 'facts', 'restore', 'nodes ready', 'summary']);
    const out = result.stdout;
    const order = ['images mount', 'etcdutl snapshot status', 'etcdutl snapshot restore', '--bump-revision=1000000000', '--mark-compacted', 'mv /etc/kubernetes/manifests/etcd.yaml', 'mv /var/lib/etcd /var/lib/etcd.before-restore-', '/etc/kubernetes/manifests/etcd.yaml', 'images unmount'];
    let at = 0;
    for (const text of order) {
      const found = out.indexOf(text, at);
      expect([text, found >= 0]).toEqual([text, true]);
      at = found;
    }
    expect(out).toContain('wait --for=condition=Ready node --all');
  });

  test('certs renew: kubeadm certs renew all, the control plane restarted, root\'s kubeconfig refreshed', () => {
    const result = plan(['certs', 'renew', '--dry-run']);
    expect(result.code).toBe(0);
    expect(phases(result.stdout)).toEqual(['connect', 'facts', 'renew', 'summary']);
    expect(result.stdout).toContain('kubeadm certs renew all');
    expect(result.stdout.indexOf('kubeadm certs renew all')).toBeLessThan(result.stdout.indexOf('mv /etc/kubernetes/manifests/kube-apiserver.yaml'));
    expect(result.stdout).toMatch(/\/root\/\.kube\/config/);
  });

  test('refusals of bad input, one line each, before anything: an unknown certs action, certs --dry-run, --workers-at-once 0, restore of a missing or empty file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'restore-bad-'));
    writeFileSync(path.join(dir, 'empty.db'), '');
    const cases: [string[], string][] = [
      [['certs', 'rotate'], 'certs rotate: unknown action; scripts/bootstrap.mjs certs shows when the certificates expire, scripts/bootstrap.mjs certs renew renews them'],
      [['certs', '--dry-run'], 'certs --dry-run: certs without an action only reads; the plan is for scripts/bootstrap.mjs certs renew --dry-run'],
      [['upgrade', '--dry-run', '--workers-at-once', '0'], '--workers-at-once 0: must be a whole number from 1 to 100'],
      [['restore', path.join(dir, 'none.db'), '--dry-run'], `restore ${path.join(dir, 'none.db')}: no such file; the backups are in backups/ (scripts/bootstrap.mjs backup writes them)`],
      [['restore', path.join(dir, 'empty.db'), '--dry-run'], `restore ${path.join(dir, 'empty.db')}: the file is empty: not an etcd snapshot`],
    ];
    for (const [args, line] of cases) {
      const result = plan(args);
      expect([args.join(' '), result.code, result.stderr]).toEqual([args.join(' '), 1, `${line}\n`]);
      expect(result.stdout).toBe('');
    }
  });
});

const sshd = sshdForTests('day 2 over SSH');
if (sshd) {
  describe('on three fake hosts made at 1.35.1', () => {
    let cluster: Cluster;
    let original: string;
    const setVersion = (version: string) => writeFileSync(cluster.config, original.replace(/version: '?1\.35\.1'?/, `version: ${version}`));
    const cp = () => cluster.nodes['k8s-node1'];
    const packagesOf = (name: string) => JSON.parse(cluster.nodes[name].readFile('/.fake/packages.json')!);
    beforeAll(() => {
      cluster = makeCluster(sshd);
      original = readFileSync(cluster.config, 'utf8');
      const made = bootstrap(cluster, sshd);
      if (made.code !== 0) throw new Error(`bootstrap failed: ${made.stderr}\n${made.stdout}`);
    });

    describe('upgrade', () => {
      let refusals: Record<string, ReturnType<typeof bootstrap>>;
      let changedByRefusals: unknown[];
      let asked: ReturnType<typeof bootstrap>;
      let declined: ReturnType<typeof onTerminal>;
      let upgraded: ReturnType<typeof bootstrap>;
      beforeAll(() => {
        clearAll(cluster);
        refusals = {};
        for (const version of ['1.35.0', '1.37.2']) {
          setVersion(version);
          refusals[version] = bootstrap(cluster, sshd, ['upgrade']);
        }
        setVersion('1.36.5');
        asked = bootstrap(cluster, sshd, ['upgrade'], {}, true);
        declined = onTerminal(cluster, sshd, ['upgrade'], 'no\n');
        changedByRefusals = Object.values(mutating(cluster)).flat();
        upgraded = bootstrap(cluster, sshd, ['upgrade']);
      });
      // The cluster runs 1.36.5 from here on.
      afterAll(() => setVersion('1.36.5'));

      test('a downgrade and a jump over a minor are refused with the way out, one line each, before any change', () => {
        expect(refusals['1.35.0'].code).toBe(1);
        expect(refusals['1.35.0'].stderr).toBe('kubernetes.version 1.35.0 is older than the control plane\'s 1.35.1: Kubernetes cannot be downgraded; set kubernetes.version back to 1.35.1\n');
        expect(refusals['1.37.2'].code).toBe(1);
        expect(refusals['1.37.2'].stderr).toBe('kubernetes.version 1.37.2 skips a minor: the control plane runs 1.35.1, and kubeadm upgrades one minor at a time; set kubernetes.version to 1.36.5, run upgrade, then set 1.37.2 and run it again\n');
        for (const refused of Object.values(refusals)) expect(refused.stdout).not.toContain('==> upgrade');
      });

      test('it says what it will change, node by node, and asks: no terminal and no --yes is a refusal (exit 2), an answer other than yes too; nothing touched', () => {
        expect(asked.code).toBe(2);
        const said = asked.stdout.slice(asked.stdout.indexOf('    this upgrade will change:')).split('\n').slice(0, 4);
        expect(said).toEqual([
          '    this upgrade will change:',
          '      k8s-node1 (127.0.0.1): kubeadm upgrade apply v1.36.5 (control plane 1.35.1 -> 1.36.5); drained, kubelet 1.35.1 -> 1.36.5, kubeadm and kubectl too, uncordoned',
          '      k8s-node2 (127.0.0.2): kubeadm upgrade node; drained, kubelet 1.35.1 -> 1.36.5, kubeadm and kubectl too, uncordoned',
          '      k8s-node3 (127.0.0.3): kubeadm upgrade node; drained, kubelet 1.35.1 -> 1.36.5, kubeadm and kubectl too, uncordoned',
        ]);
        expect(asked.stderr).toBe('the upgrade would change the nodes above; there is no terminal to ask on, so pass --yes to go on (or --dry-run to see the whole plan); nothing was touched\n');
        expect(declined.code).toBe(2);
        expect(declined.output).toContain('upgrade not confirmed (answer: "no"); nothing was touched');
        expect(changedByRefusals).toEqual([]);
      });

      test('with --yes: the control plane, then each worker, then the add-ons and the checks; the summary says how long each node took', () => {
        expect(upgraded.stderr).toBe('');
        expect(upgraded.code).toBe(0);
        expect(phases(upgraded.stdout)).toEqual(['connect', 'facts', 'upgrade control plane', 'upgrade workers', 'apply', 'verify', 'summary']);
        for (const name of ['k8s-node1', 'k8s-node2', 'k8s-node3']) expect(upgraded.stdout).toMatch(new RegExp(`${name} +upgrade (control plane|workers) done: upgraded 1\\.35\\.1 -> 1\\.36\\.5 \\(`));
        expect(upgraded.stdout).toMatch(/verify done: 5\/5 answered HTTP 200/);
        expect(upgraded.stdout).toMatch(/^ {4}upgraded: k8s-node1 1\.35\.1 -> 1\.36\.5 in \d+\.\ds, k8s-node2 1\.35\.1 -> 1\.36\.5 in \d+\.\ds, k8s-node3 1\.35\.1 -> 1\.36\.5 in \d+\.\ds$/m);
      });

      test('kubeadm\'s way: on the control plane the new minor\'s repository, kubeadm unheld, installed and held, upgrade plan and apply, then kubelet and kubectl; the workers run upgrade node', () => {
        const commands = cp().commands().map((c) => c.join(' '));
        const index = (pattern: RegExp) => commands.findIndex((c) => pattern.test(c));
        const steps = [/^dnf install .*kubeadm-1\.36\.5/, /^kubeadm upgrade plan v1\.36\.5$/, /^kubeadm upgrade apply v1\.36\.5 --yes$/, /drain k8s-node1 /, /^dnf install .*kubelet-1\.36\.5/, /^systemctl daemon-reload$/, /^systemctl restart kubelet$/, /uncordon k8s-node1$/];
        const at = steps.map(index);
        expect(at.every((i) => i >= 0)).toBe(true);
        expect([...at].sort((a, b) => a - b)).toEqual(at);
        expect(cp().readFile('/etc/yum.repos.d/kubernetes.repo')).toContain('/v1.36/rpm/');
        expect(cp().readFile('/etc/kubernetes/manifests/kube-apiserver.yaml')).toMatch(/image: registry\.k8s\.io\/kube-apiserver:v1\.36\.5$/m);
        for (const name of ['k8s-node2', 'k8s-node3']) {
          const own = cluster.nodes[name].commands().map((c) => c.join(' '));
          expect(own).toContain('kubeadm upgrade node');
          expect(own.some((c) => c.startsWith('kubeadm upgrade apply'))).toBe(false);
          expect(cluster.nodes[name].readFile('/etc/apt/sources.list.d/kubernetes.list')).toContain('/v1.36/deb/');
        }
        for (const name of ['k8s-node1', 'k8s-node2', 'k8s-node3']) {
          const installed = packagesOf(name);
          expect([name, ...[installed.kubelet, installed.kubeadm, installed.kubectl].map((v) => String(v).replace(/-.*$/, ''))]).toEqual([name, '1.36.5', '1.36.5', '1.36.5']);
          expect([name, clusterFile(cluster, `kubelet-${name}`)]).toEqual([name, '1.36.5']);
        }
        for (const name of ['k8s-node2', 'k8s-node3']) expect(JSON.parse(cluster.nodes[name].readFile('/.fake/holds.json')!).sort()).toEqual(expect.arrayContaining(['kubeadm', 'kubectl', 'kubelet']));
      });

      test('one node at a time: each drained, back at the new version and Ready, uncordoned, before the next is drained', () => {
        const log = clusterFile(cluster, 'kubectl.log').split('\n');
        const from = log.indexOf('drained k8s-node1');
        expect(log.slice(from, from + 12)).toEqual([
          'drained k8s-node1', 'waited kubelet v1.36.5 k8s-node1', 'waited nodes-ready', 'uncordoned k8s-node1',
          'drained k8s-node2', 'waited kubelet v1.36.5 k8s-node2', 'waited nodes-ready', 'uncordoned k8s-node2',
          'drained k8s-node3', 'waited kubelet v1.36.5 k8s-node3', 'waited nodes-ready', 'uncordoned k8s-node3',
        ]);
      });

      test('run again: nothing to ask, nothing to change', () => {
        clearAll(cluster);
        const before = trees(cluster);
        const again = bootstrap(cluster, sshd, ['upgrade'], {}, true);
        expect(again.code).toBe(0);
        expect(again.stdout).not.toContain('this upgrade will change:');
        for (const name of ['k8s-node1', 'k8s-node2', 'k8s-node3']) expect(again.stdout).toMatch(new RegExp(`${name} +upgrade (control plane|workers) done: already at 1\\.36\\.5`));
        expect(again.stdout).toMatch(/apply done: 3 stages unchanged/);
        expect(again.stdout).not.toContain('upgraded:');
        expect(trees(cluster)).toEqual(before);
        expect(Object.values(mutating(cluster)).flat().map((c) => c.join(' ')).filter((c) => !c.endsWith(' apply -f -'))).toEqual([]);
      });

      test('status shows each node\'s kubelet and the control plane\'s version', () => {
        const status = command(cluster, sshd, ['status']);
        expect(status.code).toBe(0);
        expect(status.stdout).toMatch(/k8s-node1 +control-plane .* kubelet 1\.36\.5, kubeadm 1\.36\.5, control plane 1\.36\.5, Node reports v1\.36\.5/);
        expect(status.stdout).toMatch(/k8s-node2 +worker .* kubelet 1\.36\.5, kubeadm 1\.36\.5, Node reports v1\.36\.5/);
      });
    });

    describe('an upgrade stopped halfway', () => {
      let other: Cluster;
      let stopped: ReturnType<typeof bootstrap>;
      let resumed: ReturnType<typeof bootstrap>;
      let cordonedBetween: string[];
      beforeAll(() => {
        other = makeCluster(sshd);
        const made = bootstrap(other, sshd);
        if (made.code !== 0) throw new Error(`bootstrap failed: ${made.stderr}`);
        writeFileSync(other.config, readFileSync(other.config, 'utf8').replace(/version: '?1\.35\.1'?/, 'version: 1.36.5'));
        // k8s-node3's kubelet never reports the new version in time (a slow restart, say).
        writeFileSync(path.join(other.nodes['k8s-node1'].cluster, 'fail-wait'), '=v1.36.5 node/k8s-node3');
        stopped = bootstrap(other, sshd, ['upgrade']);
        cordonedBetween = JSON.parse(clusterFile(other, 'cordons.json')).cordoned;
        rmSync(path.join(other.nodes['k8s-node1'].cluster, 'fail-wait'));
        resumed = bootstrap(other, sshd, ['upgrade'], {}, true);
      });

      test('stops at the node that failed, saying to run it again; that node stays cordoned, the next is not touched', () => {
        expect(stopped.code).toBe(1);
        // The wait ran on the control plane, but the failure is k8s-node3's, in its step.
        expect(stopped.stderr).toBe('k8s-node3: step "ready" failed: `kubectl --kubeconfig=/etc/kubernetes/admin.conf wait \'--for=jsonpath={.status.nodeInfo.kubeletVersion}=v1.36.5\' node/k8s-node3 --timeout=300s` exited 1: error: timed out waiting for the condition\n');
        expect(stopped.stdout).toMatch(/k8s-node3 +upgrade workers FAILED \(/);
        // The summary says what was done before the failure.
        expect(stopped.stdout).toMatch(/^ {4}upgraded: k8s-node1 1\.35\.1 -> 1\.36\.5 in \d+\.\ds, k8s-node2 1\.35\.1 -> 1\.36\.5 in \d+\.\ds$/m);
        expect(stopped.stdout).toMatch(/k8s-node2 +upgrade workers done: upgraded 1\.35\.1 -> 1\.36\.5/);
        expect(stopped.stdout).not.toContain('==> apply');
        expect(cordonedBetween).toEqual(['k8s-node3']);
      });

      test('run again, it asks nothing (the work was confirmed), finishes that node (Ready, uncordoned), and goes on to the add-ons and checks', () => {
        expect(resumed.stderr).toBe('');
        expect(resumed.code).toBe(0);
        expect(resumed.stdout).not.toContain('this upgrade will change:');
        expect(resumed.stdout).toMatch(/k8s-node1 +upgrade control plane done: already at 1\.36\.5/);
        expect(resumed.stdout).toMatch(/k8s-node2 +upgrade workers done: already at 1\.36\.5/);
        expect(resumed.stdout).toMatch(/k8s-node3 +upgrade workers done: finished the upgrade to 1\.36\.5 that an earlier run began/);
        expect(resumed.stdout).toMatch(/verify done: 5\/5 answered HTTP 200/);
        expect(JSON.parse(clusterFile(other, 'cordons.json')).cordoned).toEqual([]);
        // Not run twice: each node's kubeadm upgrade once, over both runs.
        expect(other.nodes['k8s-node3'].commands().filter((c) => c.join(' ') === 'kubeadm upgrade node')).toHaveLength(1);
        expect(other.nodes['k8s-node1'].commands().filter((c) => c.join(' ').startsWith('kubeadm upgrade apply'))).toHaveLength(1);
      });
    });

    describe('backup and restore', () => {
      let backup: ReturnType<typeof command>;
      let file: string;
      let leftBehind = '';
      beforeAll(() => {
        clearAll(cluster);
        backup = command(cluster, sshd, ['backup']);
        file = /backup: (\S+\.db) /.exec(backup.stdout)?.[1] ?? '';
      });

      test('backup: the snapshot on this machine (0600) with its record and the PKI, its size and hash said, nothing left on the node', () => {
        expect(backup.stderr).toBe('');
        expect(backup.code).toBe(0);
        expect(path.dirname(file)).toBe(path.join(cluster.dir, 'backups'));
        expect(path.basename(file)).toMatch(/^cluster-\d{8}T\d{6}Z\.db$/);
        const data = readFileSync(file);
        const sum = createHash('sha256').update(data).digest('hex');
        expect(backup.stdout).toContain(`backup: ${file} (${data.length} bytes, SHA-256 ${sum}; etcd revision `);
        expect(statSync(file).mode & 0o777).toBe(0o600);
        const record = JSON.parse(readFileSync(file.replace(/\.db$/, '.json'), 'utf8'));
        expect(record).toMatchObject({ file: path.basename(file), controlPlane: 'k8s-node1', kubernetes: '1.36.5', size: data.length, sha256: sum });
        const pki = file.replace(/\.db$/, '-pki');
        for (const name of ['ca.crt', 'ca.key', 'sa.key', 'sa.pub', 'front-proxy-ca.crt', 'front-proxy-ca.key', 'etcd/ca.crt', 'etcd/ca.key']) {
          expect([name, readFileSync(path.join(pki, name), 'utf8')]).toEqual([name, cp().readFile(`/etc/kubernetes/pki/${name}`)]);
          expect([name, statSync(path.join(pki, name)).mode & 0o777]).toEqual([name, 0o600]);
        }
        expect(readdirSync(path.join(cp().root, 'var/lib/etcd'))).toEqual(['member']);
      });

      test('no secret on the terminal or in the logs: not the CA key, not the snapshot', () => {
        const caKey = cp().readFile('/etc/kubernetes/pki/ca.key')!.split('\n')[1];
        const logs = readdirSync(cluster.logs, { recursive: true }).map(String).filter((f) => f.endsWith('.log')).map((f) => readFileSync(path.join(cluster.logs, f), 'utf8')).join('\n');
        const snapshot = readFileSync(file).toString('base64').slice(0, 60);
        for (const text of [backup.stdout, backup.stderr, logs]) {
          expect(text).not.toContain(caKey);
          expect(text).not.toContain(snapshot);
        }
      });

      test('restore asks first; with no terminal and no --yes it refuses, nothing touched', () => {
        clearAll(cluster);
        const refused = command(cluster, sshd, ['restore', file]);
        expect(refused.code).toBe(2);
        expect(refused.stderr).toMatch(/^restore replaces the whole state of the cluster \(every object\) with the snapshot \S+, taken \S+ at etcd revision \d+: what was made or changed since is lost; the control plane stops for a minute or two; there is no terminal to ask on, so pass --yes to go on\n$/);
        expect(Object.values(mutating(cluster)).flat()).toEqual([]);
      });

      test('a snapshot that changed since its backup is refused before any node is reached', () => {
        const copy = path.join(mkdtempSync(path.join(tmpdir(), 'changed-')), path.basename(file));
        writeFileSync(copy, Buffer.concat([readFileSync(file), Buffer.from('x')]));
        writeFileSync(copy.replace(/\.db$/, '.json'), readFileSync(file.replace(/\.db$/, '.json')));
        const refused = command(cluster, sshd, ['restore', copy, '--yes']);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(new RegExp(`^restore ${copy.replace(/[.]/g, '\\.')}: its SHA-256 is [0-9a-f]{64}, but ${path.basename(file).replace('.db', '\\.json')} recorded [0-9a-f]{64} when it was taken: the file changed; use another backup\\n$`));
        expect(refused.stdout).toBe('');
      });

      test('a restore whose swap fails halfway puts the old data back and starts the control plane on it: nothing lost', () => {
        const appliedBefore = clusterFile(cluster, 'applied.json');
        const dbBefore = cp().readFile('/var/lib/etcd/member/snap/db');
        // The restored data cannot be moved into place (after the old data was set aside).
        cp().failOn('mv /var/lib/etcd-restore-');
        const failed = command(cluster, sshd, ['restore', file, '--yes']);
        cp().failOn();
        expect(failed.code).toBe(1);
        expect(failed.stderr).toMatch(/^k8s-node1: step "swap data" failed: `mv \/var\/lib\/etcd-restore-\d{8}T\d{6}Z\/data \/var\/lib\/etcd` exited 1/);
        expect(cp().readFile('/var/lib/etcd/member/snap/db')).toBe(dbBefore);
        expect(readdirSync(path.join(cp().root, 'var/lib')).filter((d) => d.startsWith('etcd.before-restore-'))).toEqual([]);
        expect(readdirSync(path.join(cp().root, 'etc/kubernetes/manifests')).filter((f) => f.endsWith('.yaml')).sort()).toEqual(['etcd.yaml', 'kube-apiserver.yaml', 'kube-controller-manager.yaml', 'kube-scheduler.yaml']);
        expect(clusterFile(cluster, 'applied.json')).toBe(appliedBefore);
        // Its work folder stays for a look (0700: it holds the snapshot), as the README's troubleshooting says.
        const left = readdirSync(path.join(cp().root, 'var/lib')).filter((d) => d.startsWith('etcd-restore-'));
        expect(left).toHaveLength(1);
        expect(cp().mode(`/var/lib/${left[0]}`)).toBe(0o700);
        leftBehind = `/var/lib/${left[0]}`;
      });

      test('restore --yes: the state of the backup back (what was applied since gone), at a revision moved on; the old data kept beside; every node Ready', () => {
        const revisionAtBackup = JSON.parse(readFileSync(file.replace(/\.db$/, '.json'), 'utf8')).etcd.revision;
        const appliedAtBackup = clusterFile(cluster, 'applied.json');
        // A change after the backup: tomcat6 at 5 replicas.
        writeFileSync(cluster.config, `${readFileSync(cluster.config, 'utf8')}tomcat6:\n  replicas: 5\n`);
        expect(bootstrap(cluster, sshd, ['upgrade']).code).toBe(0);
        expect(clusterFile(cluster, 'applied.json')).not.toBe(appliedAtBackup);
        const restored = command(cluster, sshd, ['restore', file, '--yes']);
        expect(restored.stderr).toBe('');
        expect(restored.code).toBe(0);
        expect(phases(restored.stdout)).toEqual(['connect', 'facts', 'restore', 'nodes ready', 'summary']);
        expect(restored.stdout).toMatch(/k8s-node1 +restore done: etcd runs on the snapshot/);
        expect(restored.stdout).toMatch(/nodes ready done: 3 node\(s\) Ready/);
        expect(clusterFile(cluster, 'applied.json')).toBe(appliedAtBackup);
        const etcd = JSON.parse(clusterFile(cluster, 'etcd.json'));
        expect(etcd).toEqual({ revision: revisionAtBackup + 1_000_000_000, compacted: true });
        const kept = readdirSync(path.join(cp().root, 'var/lib')).filter((d) => d.startsWith('etcd.before-restore-'));
        expect(kept).toHaveLength(1);
        expect(kept[0]).toMatch(/^etcd\.before-restore-\d{8}T\d{6}Z$/);
        // Every static pod back, the image unmounted, the work folder gone.
        expect(readdirSync(path.join(cp().root, 'etc/kubernetes/manifests')).filter((f) => f.endsWith('.yaml')).sort()).toEqual(['etcd.yaml', 'kube-apiserver.yaml', 'kube-controller-manager.yaml', 'kube-scheduler.yaml']);
        // Only the failed restore's image is still mounted (see above); this one's is not, and its folder is gone.
        expect(Object.keys(JSON.parse(cp().readFile('/.fake/mounts.json') ?? '{}'))).toEqual([`${leftBehind}/image`]);
        expect(readdirSync(path.join(cp().root, 'var/lib')).filter((d) => d.startsWith('etcd-restore-')).map((d) => `/var/lib/${d}`)).toEqual([leftBehind]);
        setVersion('1.36.5');
      });
    });

    describe('certificates', () => {
      test('`certs` lists each certificate\'s expiry and warns under 30 days; `status` shows the earliest', () => {
        const times = JSON.parse(cp().readFile('/.fake/certs.json')!);
        const soon = new Date(Date.now() - 340 * 86_400_000);
        cp().writeFile('/.fake/certs.json', JSON.stringify({ ...times, certificates: soon.toISOString() }));
        const report = command(cluster, sshd, ['certs']);
        expect(report.code).toBe(0);
        expect(report.stdout).toMatch(/^ {4}apiserver +\d{4}-\d\d-\d\d \d\d:\d\d UTC \(2[45] day\(s\)\)$/m);
        const warning = 'warning: the control plane\'s certificates expire within 30 days (admin.conf first): run scripts/bootstrap.mjs certs renew';
        expect(report.stdout).toContain(`${warning}\n`);
        expect(report.stdout).toMatch(/certificate authorities \(not renewed by certs renew; kubeadm makes them for 10 years\):/);
        const status = command(cluster, sshd, ['status']);
        expect(status.stdout).toMatch(/==> certificates \(k8s-node1\)\n {4}earliest expiry: admin\.conf, \d{4}-\d\d-\d\d \d\d:\d\d UTC \(2[45] day\(s\)\)/);
        expect(status.stdout).toContain(warning);
      });

      test('certs renew: every certificate valid a year from now, the control plane restarted, root\'s kubeconfig the new admin.conf; the summary says to fetch it again', () => {
        clearAll(cluster);
        const oldAdmin = cp().readFile('/etc/kubernetes/admin.conf');
        const renewed = command(cluster, sshd, ['certs', 'renew']);
        expect(renewed.stderr).toBe('');
        expect(renewed.code).toBe(0);
        expect(renewed.stdout).toMatch(/certificates: renewed; earliest expiry now admin\.conf, \d{4}-\d\d-\d\d \d\d:\d\d UTC \(36[45] day\(s\)\) \(was .* \(2[45] day\(s\)\)\)/);
        expect(renewed.stdout).toContain('the admin kubeconfig changed: fetch it again with scripts/bootstrap.mjs kubeconfig');
        const commands = cp().commands().map((c) => c.join(' '));
        expect(commands).toContain('kubeadm certs renew all');
        // The static pods taken out and put back (the kubelet restarts them on their new certificates).
        expect(commands.filter((c) => /^mv \/etc\/kubernetes\/manifests\/kube-apiserver\.yaml /.test(c))).toHaveLength(1);
        expect(cp().readFile('/etc/kubernetes/admin.conf')).not.toBe(oldAdmin);
        expect(cp().readFile('/root/.kube/config')).toBe(cp().readFile('/etc/kubernetes/admin.conf'));
        const report = command(cluster, sshd, ['certs']);
        expect(report.stdout).toMatch(/^earliest expiry: \S+, \d{4}-\d\d-\d\d \d\d:\d\d UTC \(36[45] day\(s\)\)$/m);
      });
    });
  });
}
