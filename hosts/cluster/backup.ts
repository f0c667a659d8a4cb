/**
 * scripts/bootstrap.mjs backup and restore: the cluster's whole state is etcd's, on the control plane.
 *
 * backup: an etcd snapshot taken by etcdctl in the etcd static pod (with the etcd client certificate kubeadm
 * made for health checks), checked with etcdutl there, copied to this machine as
 * backups/<config name>-<time>.db (0600) beside a record of it (.json: size, SHA-256, revision, versions)
 * and the PKI files a control plane is rebuilt from (<name>-pki/, 0600: they include the cluster's CA keys),
 * then removed from the node.
 *
 * restore FILE: the snapshot copied to the control plane and checked there with the etcdutl of the etcd image
 * the control plane runs (mounted with ctr: it works while etcd is down); restored into a new data folder
 * (with a bumped revision, marked compacted, so every watcher lists anew); the control plane stopped, the
 * data folder swapped (the old one kept beside it), the control plane started; then the API server and every
 * node waited for.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../config/errors';
import { controlPlane } from '../../config/nodes';
import type { ClusterNode } from '../../config/schema';
import { type NodeRun, type Step, StepFailed } from '../engine/steps';
import { compactTimestamp } from '../engine/time';
import { ETCD_MANIFEST, manifestFlag, manifestImage, startControlPlane, stopControlPlane, type Waits } from '../node/control-plane';
import { kubectl, queryRetried, runRetried } from './apply';
import type { BackupTarget, ClusterRun } from './manager';
import { etcdctl } from './etcd';

export const BACKUP_DIR = 'backups';
/** The files a control plane is rebuilt from (kubeadm's shared certificates): the CAs, their keys, the service-account key pair. */
export const PKI_FILES = ['ca.crt', 'ca.key', 'sa.key', 'sa.pub', 'front-proxy-ca.crt', 'front-proxy-ca.key', 'etcd/ca.crt', 'etcd/ca.key'];
/** How far the restored revision is moved on, as etcd's and Kubernetes' documentation advise for a cluster serving Kubernetes. */
export const BUMP_REVISION = 1_000_000_000;

/** What `etcdutl snapshot status -w json` says of a snapshot. */
export interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
  version?: string;
}

/** The record written beside a backup. */
export interface BackupRecord {
  file: string;
  takenAt: string;
  controlPlane: string;
  kubernetes?: string;
  size: number;
  sha256: string;
  etcd: SnapshotStatus;
}

export function parseSnapshotStatus(text: string): SnapshotStatus {
  const data = JSON.parse(text.slice(text.indexOf('{')));
  if (typeof data.revision !== 'number' || typeof data.totalKey !== 'number') throw new Error(`not etcdutl's snapshot status: ${text.slice(0, 200)}`);
  return data as SnapshotStatus;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The etcd static pod's settings the restore needs, from its manifest. */
async function etcdSettings(run: NodeRun, node: ClusterNode) {
  const manifest = await run.read(ETCD_MANIFEST);
  if (manifest === undefined) throw new UserError([`${node.name}: ${ETCD_MANIFEST} is missing: the control plane runs no local etcd (kubeadm's stacked etcd), which is what backup and restore work with`]);
  const settings = {
    image: manifestImage(manifest),
    dataDir: manifestFlag(manifest, 'data-dir'),
    name: manifestFlag(manifest, 'name'),
    initialCluster: manifestFlag(manifest, 'initial-cluster'),
    peerUrls: manifestFlag(manifest, 'initial-advertise-peer-urls'),
  };
  const missing = Object.entries(settings).filter(([, v]) => !v).map(([k]) => k);
  if (missing.length) throw new UserError([`${node.name}: ${ETCD_MANIFEST} lacks ${missing.join(', ')}: not a manifest kubeadm wrote`]);
  return settings as Record<keyof typeof settings, string>;
}

/** The backup, on the control plane; the files written on this machine are added to `written`. */
export function backupSteps(node: ClusterNode, target: BackupTarget, retryDelayMs: number, written: (record: BackupRecord, pkiDir: string) => void): Step[] {
  const pod = `etcd-${node.name}`;
  let remote = '';
  let status: SnapshotStatus | undefined;
  return [
    {
      title: 'snapshot',
      async apply(run) {
        const { dataDir } = await etcdSettings(run, node);
        // In etcd's data folder: the one folder of the node the etcd pod writes to.
        remote = `${dataDir}/${target.name}.db`;
        await runRetried(run, etcdctl(node, 'snapshot', 'save', remote), retryDelayMs);
        const checked = await queryRetried(run, kubectl('-n', 'kube-system', 'exec', pod, '--', 'etcdutl', 'snapshot', 'status', remote, '-w', 'json'), retryDelayMs);
        if (run.planning) return `etcd snapshot ${remote}, checked with etcdutl`;
        status = parseSnapshotStatus(checked.stdout);
        return `etcd snapshot at revision ${status.revision}, ${status.totalKey} keys, checked with etcdutl`;
      },
    },
    {
      title: 'copy',
      async apply(run) {
        const file = path.join(target.dir, `${target.name}.db`);
        const pkiDir = path.join(target.dir, `${target.name}-pki`);
        const encoded = await run.query(['base64', '-w0', remote], { mustSucceed: true });
        const pki: Record<string, string> = {};
        for (const name of PKI_FILES) {
          const content = await run.read(`/etc/kubernetes/pki/${name}`);
          if (content !== undefined) pki[name] = content;
        }
        if (run.planning) {
          run.out.line(`  # on this machine: ${file} (0600), ${target.name}.json, ${pkiDir}/ with ${PKI_FILES.join(' ')} (0600)`);
        } else {
          const data = Buffer.from(encoded.stdout.trim(), 'base64');
          const size = Number((await run.query(['stat', '-c', '%s', remote], { mustSucceed: true })).stdout.trim());
          if (data.length !== size) throw new StepFailed(run.nodeName, 'copy', ['base64', '-w0', remote], { code: 1, stdout: '', stderr: `copied ${data.length} bytes of a ${size}-byte snapshot` });
          mkdirSync(path.join(pkiDir, 'etcd'), { recursive: true, mode: 0o700 });
          writeFileSync(file, data, { mode: 0o600 });
          for (const [name, content] of Object.entries(pki)) writeFileSync(path.join(pkiDir, name), content, { mode: 0o600 });
          const record: BackupRecord = {
            file: path.basename(file), takenAt: new Date().toISOString(), controlPlane: node.name, size, sha256: sha256(data), etcd: status!,
            kubernetes: /\/kube-apiserver:v(\d+\.\d+\.\d+)\b/.exec((await run.read('/etc/kubernetes/manifests/kube-apiserver.yaml')) ?? '')?.[1],
          };
          writeFileSync(path.join(target.dir, `${target.name}.json`), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
          written(record, pkiDir);
        }
        return `copied to ${file}`;
      },
    },
    {
      title: 'remove from node',
      async apply(run) {
        await run.run(['rm', '-f', remote]);
        return `${remote} removed`;
      },
    },
  ];
}

/** The snapshot a restore is given, checked on this machine before any node is touched; its bytes and its record, if any. */
export function readSnapshotFile(file: string): { data: Buffer; record?: BackupRecord } {
  if (!existsSync(file)) throw new UserError([`restore ${file}: no such file; the backups are in ${BACKUP_DIR}/ (scripts/bootstrap.mjs backup writes them)`]);
  const data = readFileSync(file);
  if (data.length === 0) throw new UserError([`restore ${file}: the file is empty: not an etcd snapshot`]);
  const recordFile = file.replace(/\.db$/, '.json');
  let record: BackupRecord | undefined;
  if (recordFile !== file && existsSync(recordFile)) {
    record = JSON.parse(readFileSync(recordFile, 'utf8')) as BackupRecord;
    if (record.sha256 && record.sha256 !== sha256(data)) {
      throw new UserError([`restore ${file}: its SHA-256 is ${sha256(data)}, but ${path.basename(recordFile)} recorded ${record.sha256} when it was taken: the file changed; use another backup`]);
    }
  }
  return { data, record };
}

/** The restore, on the control plane. */
export function restoreSteps(node: ClusterNode, snapshot: Buffer, waits: Waits, now: () => Date): Step[] {
  const stamp = compactTimestamp(now());
  const work = `/var/lib/etcd-restore-${stamp}`;
  const file = `${work}/snapshot.db`;
  const image = `${work}/image`;
  const restored = `${work}/data`;
  const etcdutl = `${image}/usr/local/bin/etcdutl`;
  let settings: Awaited<ReturnType<typeof etcdSettings>>;
  return [
    {
      title: 'upload',
      async apply(run) {
        settings = await etcdSettings(run, node);
        await run.run(['mkdir', '-p', '-m', '0700', work]);
        await run.run(['sh', '-c', 'umask 077 && base64 -d > "$1"', 'sh', file], { input: snapshot.toString('base64') });
        const sum = (await run.query(['sha256sum', file], { mustSucceed: true })).stdout.split(/\s+/)[0];
        if (!run.planning && sum !== sha256(snapshot)) throw new UserError([`${node.name}: the snapshot arrived with SHA-256 ${sum}, not ${sha256(snapshot)}; nothing was changed`]);
        return `${file} (${snapshot.length} bytes, SHA-256 checked)`;
      },
    },
    {
      title: 'check snapshot',
      async apply(run) {
        // etcdutl of the very etcd the control plane runs, from its image: no etcd needs to run for it.
        await run.run(['mkdir', '-p', image]);
        await run.run(['ctr', '-n', 'k8s.io', 'images', 'mount', settings.image, image]);
        const status = await run.query([etcdutl, 'snapshot', 'status', file, '-w', 'json']);
        if (status.code !== 0) throw new UserError([`${node.name}: etcdutl says the file is no etcd snapshot (${(status.stderr || status.stdout).trim().split('\n').pop()}); nothing was changed`]);
        return run.planning ? 'etcdutl snapshot status' : `an etcd snapshot at revision ${parseSnapshotStatus(status.stdout).revision}`;
      },
    },
    {
      title: 'restore data',
      async apply(run) {
        await run.run([etcdutl, 'snapshot', 'restore', file, `--data-dir=${restored}`, `--name=${settings.name}`, `--initial-cluster=${settings.initialCluster}`,
          `--initial-advertise-peer-urls=${settings.peerUrls}`, `--bump-revision=${BUMP_REVISION}`, '--mark-compacted']);
        return `restored into ${restored}`;
      },
    },
    {
      title: 'swap data',
      async apply(run) {
        const stash = `/etc/kubernetes/manifests-stopped-${stamp}`;
        const kept = `${settings.dataDir}.before-restore-${stamp}`;
        const moved = await stopControlPlane(run, stash, waits);
        let setAside = false;
        let swapped = false;
        try {
          await run.run(['mv', settings.dataDir, kept]);
          setAside = true;
          await run.run(['mv', restored, settings.dataDir]);
          swapped = true;
        } finally {
          // Whatever happened, the control plane runs again: on its old data if the swap failed halfway
          // (etcd started on no data folder would make a new, empty cluster).
          if (setAside && !swapped) await run.run(['mv', kept, settings.dataDir]);
          await startControlPlane(run, stash, moved, waits);
        }
        return `the control plane runs on the restored data; the data it had is kept in ${kept}`;
      },
    },
    {
      title: 'clean up',
      async apply(run) {
        await run.run(['ctr', '-n', 'k8s.io', 'images', 'unmount', '--rm', image]);
        await run.run(['rm', '-rf', work]);
        return `${work} removed`;
      },
    },
  ];
}

/** Every node Ready again after a restore (their kubelets list anew from the restored state). */
export async function waitNodesReady(cluster: ClusterRun, waitTimeout: string): Promise<string> {
  const run = cluster.nodeRun(controlPlane(cluster.config));
  run.stepTitle = 'nodes Ready';
  await queryRetried(run, kubectl('wait', '--for=condition=Ready', 'node', '--all', `--timeout=${waitTimeout}`), cluster.options.retryDelayMs ?? 5000);
  return `${cluster.config.nodes.length} node(s) Ready`;
}
