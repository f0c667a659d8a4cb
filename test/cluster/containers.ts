/**
 * Kubernetes nodes as system containers for the real-cluster test: systemd
 * as PID 1 in its own namespaces on this machine's kernel (systemd-nspawn),
 * as kind and k0sctl test their nodes and as people run nodes in LXC, Incus
 * or Proxmox containers. Native speed; every part real.
 *
 * - The node image: a debootstrap Debian 12 root with systemd and sshd,
 *   cached like the VM image. Each node gets its own writable layer
 *   (overlayfs over the cached root) and an ext4 folder of this machine for
 *   /var/lib/containerd (containerd's overlay snapshots cannot sit on an
 *   overlay root).
 * - The network: a network namespace of the test's own (held by a process
 *   that dies with the test) with a bridge and private addresses; each node's
 *   veth is attached to it. This machine's interfaces, routes and sysctls are
 *   never touched. The test's servers on this machine's loopback are reached
 *   from the namespace through netns-relay.cjs and unix sockets.
 * - cgroups: a child cgroup per node under the test's own in each hierarchy
 *   (the machine's mounts are never changed); inside, a unit of the image
 *   makes the cgroup v1 controllers writable (containerd and the kubelet
 *   create pods' cgroups there).
 * - What the host side of a node container has to provide, as the README
 *   lists it for LXC/Incus/Proxmox users: all capabilities, no seccomp
 *   filter, /dev/kmsg, and the kubelet's global kernel settings (a unit of
 *   the image binds files with kubelet's values over the three /proc/sys
 *   entries the host has otherwise, so the kubelet neither fails on the
 *   read-only /proc/sys nor changes the host's).
 *
 * Everything started here ends with the test however it ends: helper
 * processes by the kernel (setpriv --pdeathsig), the containers, their
 * mounts and cgroups by reaper.cjs when the test's end closes its pipe;
 * what a run killed some other way left behind, the next run removes first.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawnTracked } from '../vm/machine';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { splice } = require('./netns-relay.cjs') as { splice: (client: net.Socket, upstream: net.Socket) => void };

const MIRROR = 'http://deb.debian.org/debian';
/** What the node image has besides minbase: systemd, sshd, and what a cloud image of Debian carries (curl, ca-certificates). */
const PACKAGES = ['systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'procps', 'curl', 'ca-certificates', 'openssl', 'libseccomp2'];
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const REAPER = path.join(__dirname, 'reaper.cjs');
const RELAY = path.join(__dirname, 'netns-relay.cjs');

/**
 * The host side of a node container, done inside (as kind's entrypoint does): the cgroup v1 controllers
 * writable, and the kubelet's global kernel settings as files bound over their /proc/sys entries.
 */
const NODE_CONTAINER_UNIT = `[Unit]
Description=Node container set-up: writable cgroup controllers, the kubelet's kernel settings
DefaultDependencies=no
Before=sysinit.target
ConditionVirtualization=container

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for c in /sys/fs/cgroup/*/; do case "$c" in */systemd/|*/unified/) ;; *) mount -o remount,rw,bind "$c" "$c";; esac; done'
ExecStart=/bin/sh -c 'for f in vm/overcommit_memory kernel/panic kernel/panic_on_oops; do mount --bind -o ro /etc/node-container/sysctl/$f /proc/sys/$f; done'

[Install]
WantedBy=sysinit.target
`;
/** The values the kubelet sets at start (KUBELET_KERNEL_SETTINGS in hosts/node/facts.ts), for the three this machine has otherwise. */
const SYSCTL_SHIMS: Record<string, string> = { 'vm/overcommit_memory': '1', 'kernel/panic': '10', 'kernel/panic_on_oops': '1' };

export interface NodeImage {
  /** The root folder every node's overlay reads. */
  root: string;
  /** Seconds spent building it (0 when it came from the cache). */
  buildSeconds: number;
}

/** The node image: built once with debootstrap, then reused from `cacheDir`. */
export function nodeImage(cacheDir: string): NodeImage {
  const dir = path.join(cacheDir, 'node-root-v1');
  const root = path.join(dir, 'root');
  if (existsSync(path.join(dir, 'done'))) return { root, buildSeconds: 0 };
  const started = Date.now();
  for (const old of existsSync(cacheDir) ? readdirSync(cacheDir) : []) {
    if (/^node-root-v\d+$/.test(old)) rmSync(path.join(cacheDir, old), { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, 'bookworm', root, MIRROR], { stdio: 'ignore' });
    const put = (file: string, content: string) => {
      mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      writeFileSync(path.join(root, file), content);
    };
    put('/etc/hostname', 'localhost\n');
    put('/etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    put('/etc/apt/sources.list', `deb ${MIRROR} bookworm main\n`);
    put('/etc/systemd/system/node-container.service', NODE_CONTAINER_UNIT);
    for (const [file, value] of Object.entries(SYSCTL_SHIMS)) put(`/etc/node-container/sysctl/${file}`, `${value}\n`);
    // Each node gets its own machine-id and SSH host keys in its writable layer: an image's would be shared.
    put('/etc/machine-id', '');
    for (const key of readdirSync(path.join(root, 'etc/ssh')).filter((f) => f.startsWith('ssh_host_'))) rmSync(path.join(root, 'etc/ssh', key));
    execFileSync('chroot', [root, '/bin/sh', '-c', 'systemctl enable systemd-networkd node-container.service >/dev/null 2>&1 && passwd -d root >/dev/null']);
    writeFileSync(path.join(dir, 'done'), '');
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { root, buildSeconds: (Date.now() - started) / 1000 };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Collects a child's output; resolves when it exits. */
function collect(child: ChildProcess, input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    // A command that exits without reading its input closes the pipe early: not an error of the test's.
    child.stdin?.on('error', () => undefined);
    if (input === undefined) child.stdin?.end();
    else child.stdin?.end(input);
  });
}

/** The test's network namespace: a bridge with the gateway address, the nodes' veths on it. */
export interface TestNetwork {
  /** /proc/<holder>/ns/net: what nsenter --net= takes. */
  namespace: string;
  bridge: string;
  gateway: string;
  prefix: number;
  /** A command inside the namespace (on this machine's files: the "workstation"). */
  run(argv: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string }): Promise<RunResult>;
  sh(command: string): string;
}

export async function startNetwork(gateway: string, prefix: number, bridge = 'khbr0'): Promise<TestNetwork> {
  // The namespace lives as long as its holder, which the kernel kills with the test.
  const holder = spawnTracked('unshare', ['--net', '--', 'sleep', 'infinity'], { stdio: 'ignore' });
  const namespace = `/proc/${holder.pid}/ns/net`;
  // unshare makes the namespace before it execs sleep: wait until the holder is in another one.
  for (let i = 0; i < 100; i++) {
    if (execFileSync('readlink', [namespace], { encoding: 'utf8' }) !== execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' })) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const sh = (command: string) => execFileSync('nsenter', [`--net=${namespace}`, '--', 'sh', '-c', command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  sh(`ip link set lo up && ip link add ${bridge} type bridge && ip addr add ${gateway}/${prefix} dev ${bridge} && ip link set ${bridge} up`);
  return {
    namespace,
    bridge,
    gateway,
    prefix,
    sh,
    run: (argv, options = {}) => collect(spawn('nsenter', [`--net=${namespace}`, '--', ...argv], { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] }), options.input),
  };
}

/**
 * Lets the namespace reach ports of this machine's loopback: each `listen` (an address:port in the namespace)
 * is relayed to `port` on 127.0.0.1 through a unix socket in `dir`.
 */
export async function relayInto(network: TestNetwork, dir: string, routes: { listen: string; port: number }[]): Promise<() => void> {
  mkdirSync(dir, { recursive: true });
  const servers = routes.map((route, i) => {
    const socket = path.join(dir, `relay-${i}.sock`);
    rmSync(socket, { force: true });
    const server = net.createServer((client) => splice(client, net.connect(route.port, '127.0.0.1')));
    server.listen(socket);
    return { server, socket, listen: route.listen };
  });
  const relay = spawnTracked('nsenter', [`--net=${network.namespace}`, '--', process.execPath, RELAY, ...servers.map((s) => `${s.listen}=${s.socket}`)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    relay.stdout!.once('data', resolve);
    relay.once('exit', (code) => reject(new Error(`netns-relay.cjs exited (${code}) before it listened`)));
  });
  return () => {
    relay.kill('SIGKILL');
    for (const s of servers) s.server.close();
  };
}

/** The cgroup hierarchies this process is in: each one's folder and this process's path in it. */
function ownCgroups(): { dir: string; own: string; controllers: string }[] {
  return readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean).map((line) => {
    const [, controllers, own] = /^\d+:([^:]*):(.*)$/.exec(line)!;
    const name = controllers === '' ? 'unified' : controllers.replace(/^name=/, '');
    const v2Only = !existsSync('/sys/fs/cgroup/unified') && controllers === '';
    return { dir: v2Only ? '/sys/fs/cgroup' : path.join('/sys/fs/cgroup', name), own, controllers };
  }).filter((h) => existsSync(h.dir));
}

export interface NodeOptions {
  name: string;
  address: string;
  network: TestNetwork;
  image: NodeImage;
  /** Where the node's layer, containerd folder and console log go. */
  workDir: string;
  /** Files written into the node's layer before its first start: path in the node -> content. */
  files: Record<string, string>;
}

export interface NodeContainer {
  name: string;
  address: string;
  /** A short shell command in the node as root; returns stdout (throws on failure). Blocks this process. */
  sh(command: string, input?: string): string;
  /** A command in the node without blocking this process (for anything long, or that reaches the test's servers). */
  run(command: string, input?: string): Promise<RunResult>;
  /** `systemctl reboot` in the node: the container ends, and is started again like a machine's power cycle; returns the seconds until it runs again. */
  reboot(): Promise<number>;
  /** Kills the container at once (a machine's power cut: nothing in it shuts down). */
  stop(): Promise<void>;
  /** Starts a stopped container again (the power back on); returns the seconds until it runs. */
  start(): Promise<number>;
  bootSeconds: number;
}

/**
 * What the run's nodes leave in the host's kernel (cgroup folders, overlay mounts), in the state file
 * reaper.cjs reads. The folder `stateDir` is the same for every run, so a new run finds an earlier one's.
 */
export class NodeReaper {
  private readonly stateFile: string;
  private readonly state: { cgroups: string[]; mounts: string[] } = { cgroups: [], mounts: [] };
  private reaper?: ChildProcess;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.stateFile = path.join(stateDir, 'node-containers.json');
    // What an earlier run left (killed before its reaper ran, or the machine's processes all killed at once).
    execFileSync(process.execPath, [REAPER, '--now', this.stateFile], { stdio: 'inherit' });
    this.save();
    // Not tracked by pdeathsig: it must outlive the test to clean up after it. Its stdin closes when the test ends.
    this.reaper = spawn(process.execPath, [REAPER, this.stateFile], { stdio: ['pipe', 'inherit', 'inherit'], detached: true });
    this.reaper.unref();
  }

  add(cgroups: string[], mounts: string[]): void {
    for (const c of cgroups) if (!this.state.cgroups.includes(c)) this.state.cgroups.push(c);
    for (const m of mounts) if (!this.state.mounts.includes(m)) this.state.mounts.push(m);
    this.save();
  }

  private save(): void {
    writeFileSync(this.stateFile, JSON.stringify(this.state));
  }

  /** Ends every node container now, unmounts and removes their cgroups; waits for it. */
  async cleanUp(): Promise<void> {
    const reaper = this.reaper;
    this.reaper = undefined;
    if (!reaper) return;
    await new Promise<void>((resolve) => {
      reaper.once('exit', () => resolve());
      reaper.stdin!.end();
    });
  }
}

/** Starts a node container and waits until its systemd is up; the reaper learns of its cgroups and mounts first. */
export async function startNode(options: NodeOptions, reaper: NodeReaper): Promise<NodeContainer> {
  const { name, address, network, image, workDir, files } = options;
  const dir = path.join(workDir, 'nodes', name);
  const [upper, work, root, containerd] = ['upper', 'work', 'root', 'containerd'].map((d) => path.join(dir, d));
  for (const d of [upper, work, root, containerd]) mkdirSync(d, { recursive: true });
  const hierarchies = ownCgroups().map((h) => ({ ...h, node: path.join(h.dir, h.own, `kh-${name}`) }));
  reaper.add(hierarchies.map((h) => h.node), [root]);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${image.root},upperdir=${upper},workdir=${work}`, root]);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
  }
  execFileSync('ssh-keygen', ['-A', '-f', root], { stdio: 'ignore' });
  writeFileSync(path.join(root, 'etc/machine-id'), `${execFileSync('od', ['-An', '-N16', '-tx1', '/dev/urandom'], { encoding: 'utf8' }).replace(/\s/g, '')}\n`);
  for (const h of hierarchies) {
    mkdirSync(h.node, { recursive: true });
    // cgroup v1's cpuset takes no process until it has CPUs and memory nodes.
    if (h.controllers.split(',').includes('cpuset')) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(path.join(h.node, f), readFileSync(path.join(path.dirname(h.node), f)));
    }
  }
  const veth = `ve-${name}`.slice(0, 15);
  const consoleLog = path.join(workDir, `console-${name}.log`);
  const nspawn = [
    'systemd-nspawn', '--quiet', '--boot', '--register=no', '--keep-unit', `--directory=${root}`, `--machine=${name}`,
    '--capability=all', '--private-network', `--network-veth-extra=${veth}:host0`, '--resolv-conf=off', '--timezone=off', '--link-journal=no',
    '--bind=/dev/kmsg', `--bind=${containerd}:/var/lib/containerd`,
  ];
  // The launcher moves itself into the node's cgroups, then becomes systemd-nspawn (which keeps them: --keep-unit).
  const script = `${hierarchies.map((h) => `echo $$ > ${h.node}/cgroup.procs`).join(' && ')} && SYSTEMD_SECCOMP=0 exec ${nspawn.join(' ')} >>${consoleLog} 2>&1 </dev/null`;

  let current: ChildProcess;
  let leader = 0;
  const boot = async () => {
    const started = Date.now();
    current = spawnTracked('nsenter', [`--net=${network.namespace}`, '--', 'sh', '-c', script], { stdio: 'ignore' });
    const exited = () => current.exitCode !== null || current.signalCode !== null;
    // The node's end of the veth appears in the test's namespace: onto the bridge.
    for (;;) {
      if (exited()) throw new Error(`${name}: systemd-nspawn exited (${current.exitCode ?? current.signalCode}); see ${consoleLog}`);
      const attached = await network.run(['sh', '-c', `ip link set ${veth} master ${network.bridge} && ip link set ${veth} up`]);
      if (attached.code === 0) break;
      if (Date.now() - started > 30_000) throw new Error(`${name}: its veth ${veth} did not appear in 30 s; see ${consoleLog}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    leader = 0;
    for (;;) {
      const children = existsSync(`/proc/${current.pid}/task/${current.pid}/children`) ? readFileSync(`/proc/${current.pid}/task/${current.pid}/children`, 'utf8').trim() : '';
      if (children) leader = Number(children.split(/\s+/)[0]);
      if (leader) {
        const state = (await runIn('systemctl is-system-running')).stdout.trim();
        if (state === 'running' || state === 'degraded') break;
      }
      if (exited()) throw new Error(`${name}: systemd-nspawn exited (${current.exitCode ?? current.signalCode}) while booting; see ${consoleLog}`);
      if (Date.now() - started > 120_000) throw new Error(`${name}: systemd did not come up in 120 s; see ${consoleLog}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return (Date.now() - started) / 1000;
  };
  const enter = (command: string) => ['nsenter', '-t', String(leader), '-a', '--', 'env', '-i', PATH_ENV, 'HOME=/root', 'LANG=C.UTF-8', 'bash', '-c', command];
  const runIn = (command: string, input?: string) => {
    const [bin, ...args] = enter(command);
    return collect(spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] }), input);
  };
  const stopNow = async () => {
    if (current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    // systemd-nspawn's death does not end the container: its PID 1 goes first, and the whole container with it.
    if (leader) process.kill(leader, 'SIGKILL');
    current.kill('SIGKILL');
    await exited;
    // The kernel ends the container's other processes after its PID 1, and its network with the last of them:
    // once its veth is gone from the test's bridge, nothing of it answers any more.
    for (let i = 0; i < 300 && (await network.run(['ip', 'link', 'show', veth])).code === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  };
  const bootSeconds = await boot();
  return {
    name,
    address,
    bootSeconds,
    sh: (command, input) => {
      const [bin, ...args] = enter(command);
      return execFileSync(bin, args, { encoding: 'utf8', input: input ?? '', stdio: ['pipe', 'pipe', 'pipe'], timeout: 300_000, maxBuffer: 1 << 28 });
    },
    run: runIn,
    async reboot() {
      const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
      const started = Date.now();
      await runIn('systemctl reboot');
      // systemd-nspawn ends on the container's reboot (exit 133); a machine's firmware would start it again.
      await exited;
      await boot();
      return (Date.now() - started) / 1000;
    },
    stop: stopNow,
    start: boot,
  };
}
