/**
 * What differs between OS families, behind one interface: package
 * repositories, package queries, installs and holds, and the undo of each.
 * One adapter per family (el9.ts, apt.ts), looked up in adapters.ts.
 */
import type { ClusterConfig } from '../../config/schema';
import type { NodeRun } from '../engine/steps';
import type { OsFamily, OsRelease } from './release';

/** The mark on every file this project writes on a node. */
export const MANAGED_BY = 'managed by hosts/prep.mjs';

/** The Kubernetes packages pinned to kubernetes.version. */
export const PINNED_KUBE_PACKAGES = ['kubelet', 'kubeadm', 'kubectl'] as const;
/**
 * crictl, installed on its own: since 1.32 the kubeadm package declares no
 * dependencies, and kubeadm's preflight and prep's /etc/crictl.yaml need it.
 * Its versions follow their own numbering, so it is not pinned.
 */
export const CRI_TOOLS = 'cri-tools';
/** What prep holds, so a routine upgrade does not move it under a running cluster. */
export const HELD_PACKAGES = [...PINNED_KUBE_PACKAGES, CRI_TOOLS] as const;
/** Docker's package of containerd (2.x), for every family. */
export const DOCKER_CONTAINERD = 'containerd.io';
/** Every package of the Kubernetes repository (what dnf excludes outside an explicit install). */
export const KUBERNETES_REPO_PACKAGES = [...PINNED_KUBE_PACKAGES, CRI_TOOLS, 'kubernetes-cni'] as const;

export function kubernetesMinor(config: ClusterConfig): string {
  return config.kubernetes.version.split('.').slice(0, 2).join('.');
}

/** The per-minor repository of pkgs.k8s.io (or the configured mirror of it). */
export function kubernetesRepoBase(config: ClusterConfig, format: 'deb' | 'rpm'): string {
  return `${config.packages.kubernetes}/v${kubernetesMinor(config)}/${format}/`;
}

/** A package and the version the config wants, or any version when unset. */
export interface WantedPackage {
  name: string;
  version?: string;
}

export interface OsAdapter {
  family: OsFamily;
  /** SELinux is on by default (EL). */
  selinux: boolean;
  /** The firewall tool the family ships with. */
  firewall: 'firewalld' | 'ufw';
  /**
   * The containerd package to install (packages.containerd), and every
   * package name that counts as containerd installed: a node that already
   * runs the other one keeps it (prep never swaps the runtime under a node).
   */
  containerdPackage(config: ClusterConfig): string;
  containerdPackages: string[];
  /**
   * Sets up the package repositories for containerd and the Kubernetes
   * packages; returns what changed. With apt, a change also refreshes the
   * package index (dnf reads new repositories' metadata on its own).
   */
  addRepositories(run: NodeRun, config: ClusterConfig, release: OsRelease): Promise<string[]>;
  /** Removes what addRepositories added; returns what it did. */
  removeRepositories(run: NodeRun): Promise<string[]>;
  /** The installed version of a package, or undefined. */
  installedVersion(run: NodeRun, name: string): Promise<string | undefined>;
  /** Whether an installed version satisfies the wanted one. */
  matches(installed: string, wanted: WantedPackage): boolean;
  /** `indexFresh`: the package index was refreshed moments ago in this run, by addRepositories. */
  install(run: NodeRun, packages: WantedPackage[], indexFresh: boolean): Promise<void>;
  /** Keeps the pinned packages from being upgraded; returns whether it changed anything. */
  hold(run: NodeRun, names: readonly string[]): Promise<boolean>;
  /** Lets held packages be upgraded again; returns the ones it released. */
  unhold(run: NodeRun, names: readonly string[]): Promise<string[]>;
  /** After a file is written: what the family needs done to it (EL9: its SELinux label restored). */
  afterWrite?(run: NodeRun, file: string): Promise<void>;
}
