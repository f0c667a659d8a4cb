/**
 * A highly available control plane on fake hosts (fakehost/cluster.ts): three control planes behind the
 * virtual IP kubernetes.controlPlaneEndpoint, two workers. The plan, the bootstrap (kube-vip, the uploaded
 * certificates and their key, the control planes joining one at a time, the workers through the virtual IP),
 * a re-run, status with etcd's members, a control plane taken out and added again, the upgrade control plane
 * by control plane, certificates renewed on each, and the refusals before anything is touched. The real
 * cluster (test/cluster/real-cluster.clustertest.ts) proves it on real kubeadm, etcd and kube-vip.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { bootstrap, type Cluster, clearAll, clusterFile, command, makeCluster, mutating, trees } from './fakehost/cluster';
import { sshdForTests } from './fakehost/sshd';
import { ROOT } from './helpers';

const VIP = '127.0.0.10';
const HA_NODES = [
  { name: 'k8s-node1', address: '127.0.0.1', role: 'control-plane' },
  { name: 'k8s-node2', address: '127.0.0.2', role: 'worker' },
  { name: 'k8s-node3', address: '127.0.0.3', role: 'worker' },
  { name: 'k8s-node4', address: '127.0.0.5', role: 'control-plane' },
  { name: 'k8s-node5', address: '127.0.0.6', role: 'control-plane' },
] as const;
const CONTROL_PLANES = HA_NODES.filter((n) => n.role === 'control-plane').map((n) => n.name);
const JOINING = ['k8s-node4', 'k8s-node5'];
const phases = (out: string) => [...out.matchAll(/^==> (\S+(?: \S+)*)$/gm)].map((m) => m[1]);
const members = (cluster: Cluster) => (JSON.parse(clusterFile(cluster, 'etcd-members.json')) as { name: string }[]).map((m) => m.name).sort();
/** Everything a cluster's runs printed or logged. */
const everything = (cluster: Cluster, ...printed: string[]) => [...printed, spawnSync('sh', ['-c', `cat ${cluster.logs}/*.log`], { encoding: 'utf8' }).stdout].join('\n');

describe('the plan of a highly available cluster (--dry-run, no SSH)', () => {
  test('init with kube-vip on the first control plane, the certificates uploaded, the other control planes joined one at a time, then the workers', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ha-plan-'));
    const config = path.join(dir, 'cluster.yaml');
    const committed = parse(readFileSync(path.join(ROOT, 'cluster.yaml'), 'utf8'));
    committed.kubernetes.controlPlaneEndpoint = '192.168.83.130';
    committed.nodes.push({ name: 'k8s-node4', address: '192.168.83.136', role: 'control-plane' }, { name: 'k8s-node5', address: '192.168.83.137', role: 'control-plane' });
    writeFileSync(config, JSON.stringify(committed));
    const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.mjs'), '--dry-run', '--verbose', '--config', config], { cwd: ROOT, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const out = result.stdout;
    expect(phases(out)).toEqual(['connect', 'facts', 'prep', 'init', 'join control planes', 'join', 'apply', 'verify', 'summary']);
    const init = out.slice(out.indexOf('==> init'), out.indexOf('==> join control planes'));
    // kube-vip before kubeadm init, with super-admin.conf; after it, admin.conf and the API server asked through the virtual IP.
    expect(init.indexOf('[k8s-node1] init / kube-vip')).toBeGreaterThan(-1);
    expect(init.indexOf('[k8s-node1] init / kube-vip')).toBeLessThan(init.indexOf('kubeadm init --config=/etc/kubernetes/kubeadm-init.yaml'));
    expect(init).toContain('path: /etc/kubernetes/super-admin.conf');
    expect(init.indexOf('[k8s-node1] init / kube-vip kubeconfig')).toBeGreaterThan(init.indexOf('kubeadm init --config'));
    expect(init).toContain('controlPlaneEndpoint: 192.168.83.130:6443');
    expect(init).toMatch(/certSANs:\n[\s|]+- 192\.168\.83\.130\n[\s|]+- 192\.168\.83\.133\n[\s|]+- 192\.168\.83\.136\n[\s|]+- 192\.168\.83\.137\n/);
    const joins = out.slice(out.indexOf('==> join control planes'), out.indexOf('==> join\n'));
    expect(joins).toContain('kubeadm init phase upload-certs --upload-certs --skip-certificate-key-print --config=/etc/kubernetes/kubeadm-upload-certs.yaml');
    expect(joins.indexOf('[k8s-node4] join / kubeadm join')).toBeLessThan(joins.indexOf('[k8s-node5] join / kubeadm join'));
    // kube-vip in place before the join starts the kubelet; after it, kube-vip running and the API answering through the address.
    expect(joins.indexOf('[k8s-node4] join / kube-vip\n')).toBeGreaterThan(-1);
    expect(joins.indexOf('[k8s-node4] join / kube-vip\n')).toBeLessThan(joins.indexOf('[k8s-node4] join / kubeadm join'));
    expect(joins.indexOf('[k8s-node4] join / kube-vip running')).toBeGreaterThan(joins.indexOf('[k8s-node4] join / kubeadm join'));
    expect(joins).toContain('apiServerEndpoint: 192.168.83.130:6443');
    // The key is a secret: the plan shows neither a key nor a placeholder that looks like one.
    expect(joins).not.toMatch(/certificateKey: [0-9a-f]{64}/);
  });
});

const sshd = sshdForTests('the highly available fake cluster', ['127.0.0.2', '127.0.0.3', '127.0.0.5', '127.0.0.6']);
if (sshd) {
  describe('three control planes and two workers behind a virtual IP, on fake hosts', () => {
    let cluster: Cluster;
    let first: ReturnType<typeof bootstrap>;
    beforeAll(() => {
      cluster = makeCluster(sshd, { nodes: HA_NODES, config: { kubernetes: { version: '1.35.1', controlPlaneEndpoint: VIP } } });
      // k8s-node4's first try finds no API server behind the virtual IP (it is moving): tried again.
      cluster.nodes['k8s-node4'].writeFile('/.fake/join-api-unreachable', '1');
      first = bootstrap(cluster, sshd);
    });

    test('the bootstrap forms it: init, the control planes one at a time, then the workers, all through the virtual IP', () => {
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(phases(first.stdout)).toEqual(['connect', 'facts', 'prep', 'init', 'join control planes', 'join', 'apply', 'verify', 'summary']);
      // One at a time: k8s-node4 was done before k8s-node5 began.
      const joins = first.stdout.slice(first.stdout.indexOf('==> join control planes'), first.stdout.indexOf('==> join\n'));
      const done4 = joins.search(/k8s-node4 +join control planes done/);
      expect(done4).toBeGreaterThan(-1);
      expect(done4).toBeLessThan(joins.search(/k8s-node5 +join control planes/));
      const [, clusterConfiguration] = cluster.nodes['k8s-node1'].fakeState<any[]>('kubeadm-init.json');
      expect(clusterConfiguration.controlPlaneEndpoint).toBe(`${VIP}:6443`);
      expect(clusterConfiguration.apiServer.certSANs).toEqual([VIP, '127.0.0.1', '127.0.0.5', '127.0.0.6']);
      expect(members(cluster)).toEqual(CONTROL_PLANES);
      // The join that found no API server (before it changed anything) was tried again.
      expect(readFileSync(path.join(cluster.logs, 'k8s-node4.log'), 'utf8')).toContain('[k8s-node4] the API server did not answer kubeadm join before it changed anything (the virtual IP moving, a control plane restarting); trying again');
      expect(cluster.nodes['k8s-node4'].commands().filter((c) => c.join(' ') === 'kubeadm join --config=/etc/kubernetes/kubeadm-join.yaml')).toHaveLength(2);
    });

    test('each control plane joined with the uploaded certificates\' key; the workers without one; all through the virtual IP', () => {
      const { key } = JSON.parse(clusterFile(cluster, 'uploaded-certs.json'));
      for (const name of JOINING) {
        const joined = cluster.nodes[name].fakeState<any>('kubeadm-join.json');
        expect(joined.discovery.bootstrapToken.apiServerEndpoint).toBe(`${VIP}:6443`);
        expect(joined.controlPlane).toEqual({ localAPIEndpoint: { advertiseAddress: HA_NODES.find((n) => n.name === name)!.address, bindPort: 6443 }, certificateKey: key });
        // Its own kubeconfigs name the virtual IP; root has the admin kubeconfig.
        expect(cluster.nodes[name].readFile('/etc/kubernetes/admin.conf')).toContain(`server: https://${VIP}:6443`);
        expect(cluster.nodes[name].readFile('/root/.kube/config')).toBe(cluster.nodes[name].readFile('/etc/kubernetes/admin.conf'));
      }
      for (const name of ['k8s-node2', 'k8s-node3']) {
        const joined = cluster.nodes[name].fakeState<any>('kubeadm-join.json');
        expect(joined.discovery.bootstrapToken.apiServerEndpoint).toBe(`${VIP}:6443`);
        expect(joined.controlPlane).toBeUndefined();
        expect(cluster.nodes[name].readFile('/etc/kubernetes/kubelet.conf')).toContain(`server: https://${VIP}:6443`);
      }
      // Uploaded once for both joins; the files that held the key are gone.
      const uploads = cluster.nodes['k8s-node1'].commands().filter((c) => c.slice(0, 4).join(' ') === 'kubeadm init phase upload-certs');
      expect(uploads).toEqual([['kubeadm', 'init', 'phase', 'upload-certs', '--upload-certs', '--skip-certificate-key-print', '--config=/etc/kubernetes/kubeadm-upload-certs.yaml']]);
      expect(cluster.nodes['k8s-node1'].readFile('/etc/kubernetes/kubeadm-upload-certs.yaml')).toBeUndefined();
      for (const name of JOINING) expect(cluster.nodes[name].readFile('/etc/kubernetes/kubeadm-join.yaml')).toBeUndefined();
    });

    test('kube-vip runs on each control plane, on the interface of its address, reading admin.conf (super-admin.conf only while the first init ran)', () => {
      for (const name of CONTROL_PLANES) {
        const manifest = parse(cluster.nodes[name].readFile('/etc/kubernetes/manifests/kube-vip.yaml')!);
        const env = Object.fromEntries(manifest.spec.containers[0].env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
        expect([name, env.address, env.vip_interface, env.vip_arp, env.cp_enable, env.vip_leaderelection]).toEqual([name, VIP, 'eth0', 'true', 'true', 'true']);
        expect(manifest.spec.volumes).toEqual([{ name: 'kubeconfig', hostPath: { path: '/etc/kubernetes/admin.conf', type: 'File' } }]);
        expect(cluster.nodes[name].mode('/etc/kubernetes/manifests/kube-vip.yaml')).toBe(0o600);
      }
      const log = readFileSync(path.join(cluster.logs, 'k8s-node1.log'), 'utf8');
      expect(log.indexOf('reading /etc/kubernetes/super-admin.conf')).toBeGreaterThan(-1);
      expect(log.indexOf('reading /etc/kubernetes/super-admin.conf')).toBeLessThan(log.indexOf('$ kubeadm init --config'));
      expect(log.indexOf('reading /etc/kubernetes/admin.conf')).toBeGreaterThan(log.indexOf('$ kubeadm init --config'));
      // After its manifest moved to admin.conf, the restarted kube-vip was waited for: its container looked at before and after.
      expect(cluster.nodes['k8s-node1'].commands().filter((c) => c.join(' ') === 'crictl ps -q --name ^kube-vip$').length).toBeGreaterThanOrEqual(2);
      // Workers run no kube-vip.
      for (const name of ['k8s-node2', 'k8s-node3']) expect(cluster.nodes[name].readFile('/etc/kubernetes/manifests/kube-vip.yaml')).toBeUndefined();
    });

    test('no certificate key, join token or private key in anything printed or logged', () => {
      const { key } = JSON.parse(clusterFile(cluster, 'uploaded-certs.json'));
      const text = everything(cluster, first.stdout, first.stderr);
      // The logs were read: the upload and the joins are in them.
      expect(text).toContain('$ kubeadm init phase upload-certs --upload-certs --skip-certificate-key-print --config=/etc/kubernetes/kubeadm-upload-certs.yaml');
      expect(text).not.toContain(key);
      expect(text).not.toMatch(/PRIVATE KEY|client-key-data: (?!\[redacted\])/);
      const tokens = JSON.parse(clusterFile(cluster, 'tokens.json')) as { token: string }[];
      for (const { token } of tokens) expect(text).not.toContain(token.split('.')[1]);
    });

    test('a re-run changes nothing: no upload, no join, nothing asked', () => {
      clearAll(cluster);
      const before = trees(cluster);
      const again = bootstrap(cluster, sshd, [], {}, true);
      expect(again.stderr).toBe('');
      expect(again.code).toBe(0);
      expect(again.stdout).not.toContain('this run will change:');
      for (const name of JOINING) expect(again.stdout).toMatch(new RegExp(`${name} +join control planes done: already joined`));
      expect(Object.values(mutating(cluster)).flat().filter((c) => c[0] === 'kubeadm')).toEqual([]);
      expect(trees(cluster)).toEqual(before);
    });

    test('status lists etcd\'s members and their health; a member down is a problem', () => {
      const healthy = command(cluster, sshd, ['status']);
      expect(healthy.stdout).toContain('==> etcd members (3/3 healthy)');
      for (const [name, address] of [['k8s-node1', '127.0.0.1'], ['k8s-node4', '127.0.0.5'], ['k8s-node5', '127.0.0.6']]) {
        expect(healthy.stdout).toMatch(new RegExp(`^ {4}ok {3}${name} +https://${address.replaceAll('.', '\\.')}:2379 +voting$`, 'm'));
      }
      expect(healthy.code).toBe(0);
      writeFileSync(path.join(cluster.nodes['k8s-node1'].cluster, 'etcd-down'), 'k8s-node5\n');
      try {
        const down = command(cluster, sshd, ['status']);
        expect(down.code).toBe(1);
        expect(down.stdout).toContain('==> etcd members (2/3 healthy)');
        expect(down.stdout).toMatch(/^ {4}DOWN k8s-node5 +https:\/\/127\.0\.0\.6:2379 +voting: context deadline exceeded$/m);
        expect(down.stderr).toContain('status: etcd member k8s-node5 is not healthy (context deadline exceeded)\n');
      } finally {
        spawnSync('rm', ['-f', path.join(cluster.nodes['k8s-node1'].cluster, 'etcd-down')]);
      }
    });

    test('reset --only the first control plane is refused, saying how to take it out of a cluster that stays', () => {
      clearAll(cluster);
      const refused = bootstrap(cluster, sshd, ['reset', '--only', 'k8s-node1', '--yes']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe('reset --only k8s-node1: k8s-node1, the first control plane (kubeadm init ran there, and the cluster-wide commands run there), goes only with the whole cluster; reset the other nodes alone (--only k8s-node2,k8s-node3,k8s-node4,k8s-node5) or everything (no --only); to take it out of a cluster that stays, first list another control plane above it in nodes\n');
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });

    test('reset --only a control plane: drained, out of etcd, its Node gone, the virtual IP taken off it; the bootstrap --only adds it again', () => {
      // kube-vip killed on it would have left the address there.
      cluster.nodes['k8s-node5'].writeFile('/.fake/vip', `${VIP}/32`);
      const reset = bootstrap(cluster, sshd, ['reset', '--only', 'k8s-node5', '--yes']);
      expect(reset.stderr).toBe('');
      expect(reset.code).toBe(0);
      expect(phases(reset.stdout)).toEqual(['connect', 'facts', 'drain', 'reset control planes', 'remove nodes', 'summary']);
      expect(reset.stdout).toMatch(/k8s-node1 +drain done: drained k8s-node5/);
      expect(reset.stdout).toMatch(/k8s-node1 +remove nodes done: Node object\(s\) deleted: k8s-node5/);
      expect(members(cluster)).toEqual(['k8s-node1', 'k8s-node4']);
      expect(cluster.nodes['k8s-node5'].readFile('/.fake/vip')).toBeUndefined();
      expect(cluster.nodes['k8s-node5'].commands()).toContainEqual(['ip', 'addr', 'delete', `${VIP}/32`, 'dev', 'eth0']);
      expect(cluster.nodes['k8s-node5'].readFile('/etc/kubernetes/manifests/kube-vip.yaml')).toBeUndefined();
      expect(cluster.nodes['k8s-node1'].readFile('/etc/kubernetes/admin.conf')).toBeDefined();

      const added = bootstrap(cluster, sshd, ['--only', 'k8s-node5']);
      expect(added.stderr).toBe('');
      expect(added.code).toBe(0);
      expect(added.stdout).toMatch(/k8s-node5 +join control planes done: joined/);
      expect(members(cluster)).toEqual(CONTROL_PLANES);
      // A fresh key for this join, uploaded again (kubeadm keeps the certificates 2 hours).
      expect(cluster.nodes['k8s-node5'].fakeState<any>('kubeadm-join.json').controlPlane.certificateKey).toBe(JSON.parse(clusterFile(cluster, 'uploaded-certs.json')).key);
    });

    test('restore is refused while etcd has several members, naming the way that works; nothing touched', () => {
      const backup = command(cluster, sshd, ['backup', '--output', path.join(cluster.dir, 'backups')]);
      expect(backup.code).toBe(0);
      const file = /backup: (\S+\.db) /.exec(backup.stdout)![1];
      clearAll(cluster);
      const refused = command(cluster, sshd, ['restore', file, '--yes']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('restore: etcd has 3 members (k8s-node1, k8s-node4, k8s-node5); a snapshot is restored into one: take the other control planes out first (scripts/bootstrap.mjs reset --only k8s-node4,k8s-node5), restore, then join them again (scripts/bootstrap.mjs --only k8s-node4,k8s-node5)');
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });

    test('certs renew: each control plane\'s certificates, one control plane at a time', () => {
      const renewed = command(cluster, sshd, ['certs', 'renew']);
      expect(renewed.stderr).toBe('');
      expect(renewed.code).toBe(0);
      for (const name of CONTROL_PLANES) {
        expect(renewed.stdout).toMatch(new RegExp(`certificates: renewed on ${name}; earliest expiry now `));
        expect(cluster.nodes[name].commands()).toContainEqual(['kubeadm', 'certs', 'renew', 'all']);
      }
      expect(cluster.nodes['k8s-node2'].commands().filter((c) => c[0] === 'kubeadm')).toEqual([]);
    });

    test('upgrade: the first control plane (upgrade apply), then the others one at a time (upgrade node), then the workers', () => {
      writeFileSync(cluster.config, readFileSync(cluster.config, 'utf8').replace(/version: '?1\.35\.1'?/, 'version: 1.36.5'));
      clearAll(cluster);
      const upgraded = bootstrap(cluster, sshd, ['upgrade']);
      expect(upgraded.stderr).toBe('');
      expect(upgraded.code).toBe(0);
      expect(phases(upgraded.stdout)).toEqual(['connect', 'facts', 'upgrade control plane', 'upgrade control planes', 'upgrade workers', 'apply', 'verify', 'summary']);
      expect(upgraded.stdout).toContain('      k8s-node4 (127.0.0.5): kubeadm upgrade node (control plane 1.35.1 -> 1.36.5); drained, kubelet 1.35.1 -> 1.36.5, kubeadm and kubectl too, uncordoned');
      expect(cluster.nodes['k8s-node1'].commands()).toContainEqual(['kubeadm', 'upgrade', 'apply', 'v1.36.5', '--yes']);
      for (const name of JOINING) {
        expect(cluster.nodes[name].commands()).toContainEqual(['kubeadm', 'upgrade', 'node']);
        expect(cluster.nodes[name].readFile('/etc/kubernetes/manifests/kube-apiserver.yaml')).toContain('kube-apiserver:v1.36.5');
        expect(upgraded.stdout).toMatch(new RegExp(`${name} +upgrade control planes done: upgraded 1\\.35\\.1 -> 1\\.36\\.5`));
      }
      const cps = upgraded.stdout.slice(upgraded.stdout.indexOf('==> upgrade control planes'), upgraded.stdout.indexOf('==> upgrade workers'));
      expect(cps.search(/k8s-node4 +upgrade control planes done/)).toBeGreaterThan(-1);
      expect(cps.search(/k8s-node4 +upgrade control planes done/)).toBeLessThan(cps.search(/k8s-node5 +upgrade control planes/));
      expect(upgraded.stdout).toMatch(/upgraded: k8s-node1 1\.35\.1 -> 1\.36\.5 in \d+\.\ds, .*k8s-node4 1\.35\.1 -> 1\.36\.5 in \d+\.\ds/);
    });
  });

  describe('refused before anything is touched', () => {
    test('a cluster made with one control plane and no endpoint cannot become highly available in place', () => {
      const cluster = makeCluster(sshd, { nodes: HA_NODES.slice(0, 3), config: { kubernetes: { version: '1.35.1' } } });
      expect(bootstrap(cluster, sshd).code).toBe(0);
      writeFileSync(cluster.config, readFileSync(cluster.config, 'utf8').replace(/version: '?1\.35\.1'?\n/, `version: 1.35.1\n  controlPlaneEndpoint: ${VIP}\n`));
      clearAll(cluster);
      const refused = bootstrap(cluster, sshd);
      expect(refused.code).toBe(1);
      for (const name of ['k8s-node1', 'k8s-node2', 'k8s-node3']) {
        expect(refused.stderr).toContain(`${name}: is in a cluster whose API server address is 127.0.0.1:6443, but cluster.yaml makes it ${VIP}:6443 (kubernetes.controlPlaneEndpoint); kubeadm cannot move a running cluster to another address (its certificates and kubeconfigs name the old one), so a cluster made with one control plane and no endpoint cannot become highly available in place: remove kubernetes.controlPlaneEndpoint to keep this cluster as it is, or back it up (scripts/bootstrap.mjs backup), reset it and bootstrap it again\n`);
      }
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });

    test('a control plane whose join fails stops the joins: the next control plane is not joined, the workers neither', () => {
      const cluster = makeCluster(sshd, { nodes: HA_NODES, config: { kubernetes: { version: '1.35.1', controlPlaneEndpoint: VIP } } });
      cluster.nodes['k8s-node4'].failOn('kubeadm join');
      const failed = bootstrap(cluster, sshd);
      expect(failed.code).toBe(1);
      expect(failed.stdout).toMatch(/k8s-node4 +join control planes FAILED/);
      expect(failed.stdout).toMatch(/k8s-node5 +join control planes FAILED \([\d.]+s\): k8s-node5: not joined, because k8s-node4 failed to join before it \(etcd takes its members one at a time\); see k8s-node4's log, fix it, and run again/);
      expect(phases(failed.stdout)).not.toContain('join');
      for (const name of ['k8s-node5', 'k8s-node2', 'k8s-node3']) expect(cluster.nodes[name].commands().filter((c) => c[0] === 'kubeadm' && c[1] === 'join')).toEqual([]);
      expect(members(cluster)).toEqual(['k8s-node1']);
    });

    test('a virtual IP outside the control planes\' network', () => {
      const cluster = makeCluster(sshd, { nodes: HA_NODES, config: { kubernetes: { version: '1.35.1', controlPlaneEndpoint: '192.168.200.10' } } });
      const refused = bootstrap(cluster, sshd);
      expect(refused.code).toBe(1);
      for (const name of CONTROL_PLANES) {
        expect(refused.stderr).toContain(`${name}: kubernetes.controlPlaneEndpoint 192.168.200.10 is outside this control plane's network 127.0.0.0/24 (on eth0); the virtual IP is announced by ARP there, so pick a free address of 127.0.0.0/24\n`);
      }
      expect(refused.stderr).not.toContain('k8s-node2:');
      expect(Object.values(mutating(cluster)).flat()).toEqual([]);
    });
  });
}
