/* eslint-disable */
// The fake command layer of the test hosts. Every command the node scripts
// run (kubeadm, systemctl, dnf, apt-get, firewall-cmd, ufw, modprobe, sysctl,
// swapoff, ...) is a small shell wrapper in the sandbox's bin folder that
// calls this file with the command's name. It records the call in
// $FAKE_ROOT/.fake/commands.log and emulates the command's effect on the
// sandbox root's files ($FAKE_ROOT stands for `/`).
//
// State beyond plain files lives in $FAKE_ROOT/.fake/*.json. A cluster shared
// by several sandboxes (the CA, the tokens) lives in $FAKE_CLUSTER.
// $FAKE_ROOT/.fake/fail holds command prefixes that fail (failure injection).
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');

const ROOT = process.env.FAKE_ROOT;
const CLUSTER = process.env.FAKE_CLUSTER;
const at = (file) => path.join(ROOT, file);
const state = (name) => at(`.fake/${name}`);

function read(file, fallback) {
  try { return fs.readFileSync(at(file), 'utf8'); } catch { return fallback; }
}
function write(file, content, mode = 0o644) {
  fs.mkdirSync(path.dirname(at(file)), { recursive: true });
  fs.writeFileSync(at(file), content, { mode });
  fs.chmodSync(at(file), mode);
}
function exists(file) { return fs.existsSync(at(file)); }
function remove(file) { fs.rmSync(at(file), { recursive: true, force: true }); }
function json(name, fallback) {
  try { return JSON.parse(fs.readFileSync(state(name), 'utf8')); } catch { return fallback; }
}
function saveJson(name, value) {
  fs.mkdirSync(path.dirname(state(name)), { recursive: true });
  fs.writeFileSync(state(name), JSON.stringify(value, null, 2));
}

class Exit extends Error {
  constructor(code, stdout = '', stderr = '') { super(stderr); this.code = code; this.stdout = stdout; this.stderr = stderr; }
}
const fail = (code, stderr) => { throw new Exit(code, '', stderr); };

// ---- packages ---------------------------------------------------------------

const PACKAGE_VERSIONS = {
  deb: { containerd: '1.6.20~ds1-1+b1', 'containerd.io': '2.2.1-1~debian.12~bookworm', curl: '7.88.1-10', 'ca-certificates': '20230311', 'cri-tools': '1.35.0-1.1' },
  rpm: { 'containerd.io': '2.2.1', 'cri-tools': '1.35.0' },
};
/**
 * What `containerd --version` prints, by the package that installed it (recorded from Debian 12's 1.6.20 and
 * Docker's 2.2.1). Another version of the OS's package (a test's repository offers one in
 * .fake/repo-versions.json) prints the same way: upstream version, then the package's.
 */
const CONTAINERD_VERSION = {
  containerd: (version) => `containerd github.com/containerd/containerd ${version.replace(/-[^-]*$/, '')} ${version}`,
  'containerd.io': () => 'containerd containerd.io 2.2.1 05044ec0a9a75232cad458027ca83437aae3f4da',
};
/** The version a repository offers: the fake's default, or what the test's repository offers instead. */
function offered(kind, name) {
  return json('repo-versions.json', {})[name] ?? PACKAGE_VERSIONS[kind][name];
}
/** Packages of the Kubernetes repository that are not pinned to kubernetes.version. */
const KUBE_REPO_UNPINNED = ['cri-tools'];

function packages() { return json('packages.json', {}); }
function installPackage(name, version) {
  const all = packages();
  all[name] = version;
  saveJson('packages.json', all);
  if (name === 'containerd' || name === 'containerd.io') {
    // Like the real packages: Docker's containerd.io disables CRI; Debian's ships no config.
    if (name === 'containerd.io') write('/etc/containerd/config.toml', 'disabled_plugins = ["cri"]\n');
    const services = json('services.json', {});
    // Debian's package starts it at once, with its own (absent) config.
    services.containerd = { enabled: name === 'containerd', active: name === 'containerd', ...(name === 'containerd' ? { runningConfig: '' } : {}) };
    saveJson('services.json', services);
  }
  if (name === 'kubelet' && !json('services.json', {}).kubelet) {
    // Like the real package: it ships an empty manifests folder kept by a dotfile. An upgrade of the package
    // keeps the unit as it was (enabled, running the old binary until its next restart).
    write('/etc/kubernetes/manifests/.kubelet-keep', '');
    const services = json('services.json', {});
    services.kubelet = { enabled: false, active: false };
    saveJson('services.json', services);
  }
}

/**
 * pkgs.k8s.io has one repository per minor (.../core/stable/v1.35/deb/): only that minor's versions are in it.
 * The minor a repository line or baseurl names, or undefined.
 */
function repoMinor(text) {
  const match = /\/v1\.(\d+)\/(deb|rpm)\//.exec(text ?? '');
  return match ? Number(match[1]) : undefined;
}
const minorOfVersion = (version) => Number(version.split('.')[1]);

function dnf(args) {
  if (args[0] !== 'install') fail(1, `fake dnf: unsupported ${args.join(' ')}`);
  const specs = args.slice(1).filter((a) => !a.startsWith('-'));
  const lifted = (args.find((a) => a.startsWith('--disableexcludes=')) ?? '=').split('=')[1].split(',');
  const disableExcludes = lifted.includes('kubernetes');
  // dnf resolves the whole transaction first: one package it cannot find fails the command, nothing installed.
  const installs = [];
  for (const spec of specs) {
    const match = /^(kubelet|kubeadm|kubectl)-(\d+\.\d+\.\d+)$/.exec(spec);
    if (match) {
      const repo = read('/etc/yum.repos.d/kubernetes.repo', '');
      if (!/gpgcheck=1/.test(repo)) fail(1, `Error: Unable to find a match: ${spec}`);
      if (/exclude=.*kubelet/.test(repo) && !disableExcludes) fail(1, `Error: Unable to find a match: ${spec} (excluded)`);
      // The per-minor repository has no other minor's packages.
      if (repoMinor(repo) !== minorOfVersion(match[2])) fail(1, `No match for argument: ${spec}\nError: Unable to find a match: ${spec}`);
      installs.push(() => installPackage(match[1], match[2]));
    } else if (KUBE_REPO_UNPINNED.includes(spec)) {
      const repo = read('/etc/yum.repos.d/kubernetes.repo', '');
      if (!repo) fail(1, `Error: Unable to find a match: ${spec}`);
      if (new RegExp(`exclude=.*${spec}`).test(repo) && !disableExcludes) fail(1, `Error: Unable to find a match: ${spec} (excluded)`);
      installs.push(() => installPackage(spec, offered('rpm', spec)));
    } else if (spec === 'containerd.io') {
      if (!exists('/etc/yum.repos.d/docker-ce.repo')) fail(1, 'Error: Unable to find a match: containerd.io');
      if (/exclude=.*containerd\.io/.test(read('/etc/yum.repos.d/docker-ce.repo', '')) && !lifted.includes('docker-ce-stable')) fail(1, 'Error: Unable to find a match: containerd.io (excluded)');
      installs.push(() => installPackage(spec, offered('rpm', spec)));
    } else fail(1, `Error: Unable to find a match: ${spec}`);
  }
  for (const install of installs) install();
  return 'Complete!\n';
}

function rpm(args) {
  const name = args[args.length - 1];
  const version = packages()[name];
  if (!version) throw new Exit(1, `package ${name} is not installed\n`);
  return version;
}

function aptGet(args) {
  // `-o Name=value` options come first; the command is the first other word.
  const words = args.filter((a, i) => !a.startsWith('-') && args[i - 1] !== '-o');
  const command = words[0];
  if (command === 'update') {
    const source = read('/etc/apt/sources.list.d/kubernetes.list');
    if (source && !exists('/etc/apt/keyrings/kubernetes-apt-keyring.asc')) fail(100, 'E: The repository is not signed.');
    // The index holds what the sources named at this update: the Kubernetes repository of one minor.
    saveJson('apt-updated.json', { at: Date.now(), kubernetes: Boolean(source), kubernetesMinor: repoMinor(source), docker: exists('/etc/apt/sources.list.d/docker.list') });
    return 'Reading package lists... Done\n';
  }
  if (command !== 'install') fail(100, `fake apt-get: unsupported ${args.join(' ')}`);
  // Failure injection: another apt (unattended-upgrades on a fresh Ubuntu) holds the dpkg lock for a while.
  if (exists('.fake/dpkg-lock') && !args.some((a) => a.startsWith('DPkg::Lock::Timeout='))) {
    fail(100, 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234 (unattended-upgr)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?');
  }
  const held = json('holds.json', []);
  const allowHeld = args.includes('--allow-change-held-packages');
  // apt resolves every package before it installs any: one that cannot be had fails the command, nothing installed.
  const installs = [];
  const installPackageLater = (name, version) => installs.push([name, version]);
  for (const spec of words.slice(1)) {
    const [name, wanted] = spec.split('=');
    if (['kubelet', 'kubeadm', 'kubectl'].includes(name)) {
      if (!json('apt-updated.json', {}).kubernetes) fail(100, `E: Unable to locate package ${name}`);
      if (held.includes(name) && !allowHeld) fail(100, `E: Held packages were changed and -y was used without --allow-change-held-packages.`);
      const version = /^(\d+\.\d+\.\d+)-\*$/.exec(wanted ?? '');
      if (!version) fail(100, `E: Version '${wanted}' for '${name}' was not found`);
      // The index knows the versions of the one minor whose repository it was read from.
      if (json('apt-updated.json', {}).kubernetesMinor !== minorOfVersion(version[1])) fail(100, `E: Version '${wanted}' for '${name}' was not found`);
      installPackageLater(name, `${version[1]}-1.1`);
    } else if (offered('deb', name)) {
      if (!exists('.fake/apt-updated.json')) fail(100, `E: Unable to locate package ${name}`);
      if (KUBE_REPO_UNPINNED.includes(name) && !json('apt-updated.json', {}).kubernetes) fail(100, `E: Unable to locate package ${name}`);
      if (name === 'containerd.io' && !json('apt-updated.json', {}).docker) fail(100, `E: Unable to locate package ${name}`);
      installPackageLater(name, offered('deb', name));
    } else fail(100, `E: Unable to locate package ${name}`);
  }
  for (const [name, version] of installs) installPackage(name, version);
  return '';
}

function dpkgQuery(args) {
  const name = args[args.length - 1];
  const version = packages()[name];
  if (!version) throw new Exit(1, '', `dpkg-query: no packages found matching ${name}\n`);
  return `install ok installed ${version}`;
}

function aptMark(args) {
  const held = new Set(json('holds.json', []));
  if (args[0] === 'showhold') return [...held].map((p) => `${p}\n`).join('');
  for (const name of args.slice(1)) {
    if (!packages()[name]) fail(100, `E: Unable to locate package ${name}`);
    if (args[0] === 'hold') held.add(name); else held.delete(name);
  }
  saveJson('holds.json', [...held]);
  return args.slice(1).map((n) => `${n} set on ${args[0]}.\n`).join('');
}

// ---- services, kernel, system -----------------------------------------------

function systemctl(args) {
  const services = json('services.json', {});
  const verb = args[0];
  // systemd reads its unit files again (a package's new unit or drop-in): counted, nothing else changes here.
  if (verb === 'daemon-reload') {
    const systemd = json('systemd.json', {});
    systemd.daemonReloads = (systemd.daemonReloads ?? 0) + 1;
    saveJson('systemd.json', systemd);
    return '';
  }
  const name = args[args.length - 1];
  const unit = services[name];
  if (!unit) {
    if (verb === 'is-enabled') throw new Exit(1, '', `Failed to get unit file state for ${name}.service: No such file or directory\n`);
    if (verb === 'is-active') throw new Exit(3, 'inactive\n');
    fail(5, `Failed to ${verb} ${name}.service: Unit ${name}.service not found.`);
  }
  if (verb === 'is-enabled') { if (!unit.enabled) throw new Exit(1, 'disabled\n'); return 'enabled\n'; }
  if (verb === 'is-active') { if (!unit.active) throw new Exit(3, 'inactive\n'); return 'active\n'; }
  // What a starting containerd reads: the config it runs with until its next (re)start.
  const starts = verb === 'restart' || ((verb === 'start' || (verb === 'enable' && args.includes('--now'))) && !unit.active);
  if (starts && name === 'containerd') unit.runningConfig = read('/etc/containerd/config.toml', '');
  if (verb === 'enable') { unit.enabled = true; if (args.includes('--now')) unit.active = true; }
  else if (verb === 'disable') { unit.enabled = false; if (args.includes('--now')) unit.active = false; }
  else if (verb === 'restart' || verb === 'start') unit.active = true;
  else if (verb === 'stop') unit.active = false;
  else fail(1, `fake systemctl: unsupported ${verb}`);
  unit[`${verb}Count`] = (unit[`${verb}Count`] ?? 0) + 1;
  saveJson('services.json', services);
  // A kubelet that (re)starts runs the installed binary: its Node reports that version from now on.
  if (starts && name === 'kubelet') kubeletStarted();
  if (name === 'firewalld' && verb === 'disable') { const fw = json('firewalld.json', null); if (fw) { fw.running = false; saveJson('firewalld.json', fw); } }
  return '';
}

function sysctl(args) {
  if (args[0] === '--system' || args[0] === '-p') {
    const files = args[0] === '-p' ? [args[1]] : ['/etc/sysctl.conf', ...fs.readdirSync(at('/etc/sysctl.d'), { withFileTypes: true }).filter((d) => d.isFile()).map((d) => `/etc/sysctl.d/${d.name}`).sort()];
    for (const file of files) {
      for (const line of read(file, '').split('\n')) {
        const match = /^\s*([\w.-]+)\s*=\s*(\S+)/.exec(line);
        if (!match) continue;
        // /proc/sys/net/bridge is there once br_netfilter is in the kernel (a system container sees only that).
        if (match[1].startsWith('net.bridge.') && !exists('/sys/module/br_netfilter') && !exists('/proc/sys/net/bridge')) {
          fail(255, `sysctl: cannot stat /proc/sys/${match[1].replace(/\./g, '/')}: No such file or directory`);
        }
        write(`/proc/sys/${match[1].replace(/\./g, '/')}`, `${match[2]}\n`);
      }
    }
    return '';
  }
  fail(1, `fake sysctl: unsupported ${args.join(' ')}`);
}

function swapoff() { write('/proc/swaps', read('/proc/swaps', '').split('\n')[0] + '\n'); return ''; }
function swapon() {
  const header = read('/proc/swaps', 'Filename\tType\tSize\tUsed\tPriority\n').split('\n')[0];
  const entries = read('/etc/fstab', '').split('\n').filter((l) => !l.trim().startsWith('#') && l.trim().split(/\s+/)[2] === 'swap');
  write('/proc/swaps', [header, ...entries.map((l) => `${l.trim().split(/\s+/)[0]}\tpartition\t2097148\t0\t-2`)].join('\n') + '\n');
  return '';
}

function firewallCmd(args) {
  const fw = json('firewalld.json', null);
  if (!fw) fail(127, 'firewall-cmd: command not found');
  if (args[0] === '--state') { if (!fw.running) throw new Exit(252, 'not running\n'); return 'running\n'; }
  if (!fw.running) fail(252, 'FirewallD is not running');
  // As firewalld keeps them: the permanent configuration (ports, sources) and what is in force (runtime), which
  // starts as the permanent one and takes it again only at a --reload; a change without --permanent is runtime only.
  fw.runtime ??= { ports: [...fw.ports], sources: [...fw.sources] };
  const target = args.includes('--permanent') ? fw : fw.runtime;
  if (args.includes('--list-ports')) return target.ports.join(' ') + '\n';
  if (args.includes('--list-sources')) return target.sources.join(' ') + '\n';
  if (args[0] === '--reload') {
    fw.reloads = (fw.reloads ?? 0) + 1;
    fw.runtime = { ports: [...fw.ports], sources: [...fw.sources] };
    saveJson('firewalld.json', fw);
    return 'success\n';
  }
  for (const arg of args) {
    const [flag, value] = arg.split('=');
    if (flag === '--add-port' && !target.ports.includes(value)) target.ports.push(value);
    if (flag === '--remove-port') target.ports = target.ports.filter((p) => p !== value);
    if (flag === '--add-source' && !target.sources.includes(value)) target.sources.push(value);
    if (flag === '--remove-source') target.sources = target.sources.filter((s) => s !== value);
  }
  saveJson('firewalld.json', fw);
  return 'success\n';
}

function ufw(args) {
  const u = json('ufw.json', null);
  if (!u) fail(127, 'ufw: command not found');
  if (args[0] === 'status') return `Status: ${u.active ? 'active' : 'inactive'}\n`;
  if (args.join(' ') === 'show added') return u.rules.length ? `Added user rules (see 'ufw status' for running firewall):\n${u.rules.map((r) => `ufw ${r}`).join('\n')}\n` : '(None)\n';
  if (args[0] === 'disable') { u.active = false; saveJson('ufw.json', u); return 'Firewall stopped and disabled on system startup\n'; }
  if (args[0] === 'delete') { u.rules = u.rules.filter((r) => r !== args.slice(1).join(' ')); saveJson('ufw.json', u); return 'Rule deleted\n'; }
  if (args[0] === 'route' && args[1] === 'delete') { u.rules = u.rules.filter((r) => r !== ['route', ...args.slice(2)].join(' ')); saveJson('ufw.json', u); return 'Rule deleted\n'; }
  const rule = args.join(' ');
  if (!/^(route )?allow /.test(rule)) fail(1, `ERROR: Invalid syntax: ${rule}`);
  if (!u.rules.includes(rule)) u.rules.push(rule);
  saveJson('ufw.json', u);
  return 'Rules updated\n';
}

// ---- kubeadm ------------------------------------------------------------------

// The pause image kubeadm of each minor names (as the real kubeadm of 1.35.8, 1.36.5 and 1.37.2 does).
const PAUSE = { 35: '3.10.1', 36: '3.10.2', 37: '3.10.2' };

function parseYamlDocs(text) {
  const YAML = require('yaml');
  return YAML.parseAllDocuments(text).map((d) => d.toJS());
}

function clusterFile(name) { return path.join(CLUSTER, name); }

function kubeadm(args) {
  const version = packages().kubeadm;
  if (!version) fail(127, 'kubeadm: command not found');
  const semver = version.split('-')[0];
  const sub = args.slice(0, 3).join(' ');
  if (args[0] === 'version') return `v${semver}\n`;
  // Failure injection: .fake/cri-slow holds how many more inits and joins fail their preflight because the container
  // runtime did not answer within kubeadm's fixed 2 s (a starved node); nothing is changed, as with the real kubeadm.
  const slow = Number(read('.fake/cri-slow', '0'));
  if (slow > 0 && (args[0] === 'init' || args[0] === 'join')) {
    write('.fake/cri-slow', String(slow - 1));
    // What kubeadm v1.35.8 printed against a socket that accepts and never answers (recorded; a prepared node has no warnings).
    const unanswered = 'could not connect to the container runtime: failed to create new CRI runtime service: validate service connection: validate CRI v1 runtime API for endpoint "unix:///var/run/containerd/containerd.sock": rpc error: code = DeadlineExceeded desc = context deadline exceeded while waiting for connections to become ready';
    throw new Exit(1, `${args[0] === 'init' ? `[init] Using Kubernetes version: v${semver}\n` : ''}[preflight] Running pre-flight checks\n`,
      `[preflight] Some fatal errors occurred:\n\t[ERROR CRI]: ${unanswered}\n\t[ERROR ContainerRuntimeVersion]: ${unanswered}\n[preflight] If you know what you are doing, you can make a check non-fatal with \`--ignore-preflight-errors=...\`\nerror: error execution phase preflight: preflight checks failed\nTo see the stack trace of this error execute with --v=5 or higher\n`);
  }
  if (sub === 'config images list') {
    const k8s = args.find((a) => a.startsWith('--kubernetes-version=')).split('=')[1];
    const repo = (args.find((a) => a.startsWith('--image-repository=')) ?? '=registry.k8s.io').split('=')[1];
    return imagesOf(repo, k8s.replace(/^v/, '')).join('\n') + '\n';
  }
  if (sub === 'init phase upload-certs') {
    if (!exists('/etc/kubernetes/admin.conf')) fail(1, 'failed to load admin kubeconfig'); // not recorded
    if (!args.includes('--upload-certs')) fail(1, 'fake kubeadm: upload-certs without --upload-certs uploads nothing');
    const initConfiguration = parseYamlDocs(read(args.find((a) => a.startsWith('--config=')).split('=')[1])).find((d) => d.kind === 'InitConfiguration');
    const key = initConfiguration?.certificateKey;
    if (!/^[0-9a-f]{64}$/.test(key ?? '')) fail(1, 'error execution phase upload-certs: error uploading certs: encoding/hex: invalid byte'); // not recorded
    // The kubeadm-certs Secret, encrypted with the key (kubeadm deletes it after 2 hours).
    fs.writeFileSync(clusterFile('uploaded-certs.json'), JSON.stringify({ key, expires: Date.now() + 2 * 3_600_000 }));
    // not recorded: the product does not read this output
    return `[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace\n${args.includes('--skip-certificate-key-print') ? '' : `[upload-certs] Using certificate key:\n${key}\n`}`;
  }
  if (args[0] === 'init') {
    if (exists('/etc/kubernetes/admin.conf')) fail(1, '[preflight] Some fatal errors occurred:\n\t[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: already exists');
    const docs = parseYamlDocs(read(args.find((a) => a.startsWith('--config=')).split('=')[1]));
    const kinds = docs.map((d) => `${d.apiVersion}/${d.kind}`);
    for (const kind of ['kubeadm.k8s.io/v1beta4/InitConfiguration', 'kubeadm.k8s.io/v1beta4/ClusterConfiguration']) {
      if (!kinds.includes(kind)) fail(3, `fake kubeadm: config lacks ${kind}`);
    }
    if (json('services.json', {}).containerd?.active !== true) fail(1, '[ERROR CRI]: container runtime is not running');
    if (read('/proc/sys/net/ipv4/ip_forward', '0').trim() !== '1') fail(1, '[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1');
    fs.mkdirSync(CLUSTER, { recursive: true });
    const keyFile = clusterFile('ca.key');
    execFileSync('/usr/bin/openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', clusterFile('ca.crt'), '-days', '1', '-subj', '/CN=kubernetes'], { stdio: 'ignore' });
    const ca = fs.readFileSync(clusterFile('ca.crt'), 'utf8');
    const clusterConfiguration = docs.find((d) => d.kind === 'ClusterConfiguration');
    const registration = docs[0].nodeRegistration;
    const address = docs[0].localAPIEndpoint.advertiseAddress;
    const repository = clusterConfiguration.imageRepository ?? 'registry.k8s.io';
    const k8s = clusterConfiguration.kubernetesVersion.replace(/^v/, '');
    // Every kubeconfig names the controlPlaneEndpoint when there is one, else this node's address.
    const server = clusterConfiguration.controlPlaneEndpoint ?? `${address}:6443`;
    fs.writeFileSync(clusterFile('server'), server);
    writePki(ca, fs.readFileSync(keyFile, 'utf8'), server, new Date());
    write('/etc/kubernetes/kubelet.conf', kubeletConf(server), 0o600);
    saveEtcdMembers([{ id: etcdMemberId(), name: registration.name, address }]);
    writeManifests(registration.name, address, repository, k8s);
    // The images kubeadm pulled for this version (what `ctr images mount` can mount).
    saveJson('images.json', imagesOf(repository, k8s));
    write('/var/lib/kubelet/config.yaml', kubeletConfig(), 0o644);
    fs.writeFileSync(clusterFile('version'), k8s);
    fs.writeFileSync(clusterFile('repository.json'), JSON.stringify(repository));
    fs.writeFileSync(clusterFile('etcd.json'), JSON.stringify({ revision: 1 }));
    saveJson('kubeadm-init.json', docs);
    registerNode(docs[0].nodeRegistration, true);
    const token = createToken('24h');
    const hash = caHash(ca);
    return `Your Kubernetes control-plane has initialized successfully!\n\nkubeadm join ${server} --token ${token} \\\n\t--discovery-token-ca-cert-hash ${hash}\n`;
  }
  if (args[0] === 'token' && args[1] === 'create') {
    if (!exists('/etc/kubernetes/admin.conf')) fail(1, 'failed to load admin kubeconfig');
    return `${createToken(args.find((a) => a.startsWith('--ttl=')).split('=')[1])}\n`;
  }
  // Failure injection: .fake/join-api-unreachable holds how many more joins find no API server behind the endpoint
  // while downloading the certificates (a control plane's join, the virtual IP moving); nothing is changed.
  const unreachable = Number(read('.fake/join-api-unreachable', '0'));
  if (unreachable > 0 && args[0] === 'join') {
    write('.fake/join-api-unreachable', String(unreachable - 1));
    const server = parseYamlDocs(read(args.find((a) => a.startsWith('--config=')).split('=')[1]))[0].discovery.bootstrapToken.apiServerEndpoint;
    // What kubeadm v1.37.2 printed on a system-container control plane while the virtual IP moved (recorded).
    throw new Exit(1, '[preflight] Running pre-flight checks before initializing the new control plane instance\n[download-certs] Downloading the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace\n',
      `error: error execution phase control-plane-prepare/download-certs: error downloading certs: error downloading the secret: Get "https://${server}/api/v1/namespaces/kube-system/secrets/kubeadm-certs?timeout=10s": net/http: request canceled (Client.Timeout exceeded while awaiting headers)\nTo see the stack trace of this error execute with --v=5 or higher\n`);
  }
  if (args[0] === 'join') {
    const config = parseYamlDocs(read(args.find((a) => a.startsWith('--config=')).split('=')[1]))[0];
    if (config.apiVersion !== 'kubeadm.k8s.io/v1beta4' || config.kind !== 'JoinConfiguration') fail(3, 'fake kubeadm: not a v1beta4 JoinConfiguration');
    const bootstrap = config.discovery.bootstrapToken;
    if (bootstrap.unsafeSkipCAVerification) fail(1, 'fake kubeadm: refusing unsafeSkipCAVerification in tests');
    const tokens = JSON.parse(fs.readFileSync(clusterFile('tokens.json'), 'utf8'));
    const entry = tokens.find((t) => t.token === bootstrap.token);
    // What kubeadm says (after its discovery timeout) when the token is gone or expired.
    if (!entry || entry.expires < Date.now()) fail(1, `error execution phase preflight: couldn't validate the identity of the API Server: could not find a JWS signature in the cluster-info ConfigMap for token ID "${bootstrap.token.split('.')[0]}"`);
    const expected = caHash(fs.readFileSync(clusterFile('ca.crt'), 'utf8'));
    if (!bootstrap.caCertHashes.includes(expected)) fail(1, `error execution phase preflight: cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "${expected}" are pinned`);
    const server = bootstrap.apiServerEndpoint;
    if (config.controlPlane) return joinControlPlane(config, server);
    write('/etc/kubernetes/kubelet.conf', kubeletConf(server), 0o600);
    write('/etc/kubernetes/pki/ca.crt', fs.readFileSync(clusterFile('ca.crt'), 'utf8'));
    write('/var/lib/kubelet/config.yaml', kubeletConfig());
    saveJson('kubeadm-join.json', config);
    registerNode(config.nodeRegistration, false);
    return 'This node has joined the cluster\n';
  }
  if (args[0] === 'upgrade') return kubeadmUpgrade(args, semver);
  if (args[0] === 'certs') return kubeadmCerts(args);
  if (args[0] === 'reset') {
    // A control plane leaves etcd first (kubeadm's remove-etcd-member phase), while the others keep quorum.
    const members = etcdMembers();
    if (exists(`${MANIFESTS}/etcd.yaml`) && members.length > 1) saveEtcdMembers(members.filter((m) => m.name !== nodeName()));
    for (const f of ['/etc/kubernetes/admin.conf', '/etc/kubernetes/kubelet.conf', '/etc/kubernetes/super-admin.conf', '/etc/kubernetes/controller-manager.conf', '/etc/kubernetes/scheduler.conf', '/etc/kubernetes/manifests', '/etc/kubernetes/pki', '/var/lib/etcd', '/var/lib/kubelet']) remove(f);
    return '[reset] Stopping the kubelet service\n';
  }
  fail(1, `fake kubeadm: unsupported ${args.join(' ')}`);
}

/** kubelet.conf as kubeadm writes it: the API server it reaches (the controlPlaneEndpoint, or the first control plane). */
function kubeletConf(server) {
  return `apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://${server}\n  name: kubernetes\n`;
}

/** etcd's members: $FAKE_CLUSTER/etcd-members.json, [{ id, name, address }]. */
function etcdMembers() { try { return JSON.parse(fs.readFileSync(clusterFile('etcd-members.json'), 'utf8')); } catch { return []; } }
function saveEtcdMembers(members) { fs.writeFileSync(clusterFile('etcd-members.json'), JSON.stringify(members)); }
/** A member ID as etcd makes them: a random 64-bit number (JSON prints it whole, beyond a double's precision). */
const etcdMemberId = () => BigInt(`0x${crypto.randomBytes(8).toString('hex')}`).toString();

/**
 * `kubeadm join` with a controlPlane section: the certificates the first control plane uploaded, decrypted with
 * the certificate key (wrong or expired: refused, as kubeadm does), then this node's own certificates, kubeconfigs,
 * static pods and etcd member.
 */
function joinControlPlane(config, server) {
  const uploaded = fs.existsSync(clusterFile('uploaded-certs.json')) ? JSON.parse(fs.readFileSync(clusterFile('uploaded-certs.json'), 'utf8')) : undefined;
  // not recorded: the product does not read this output
  if (!uploaded || uploaded.expires < Date.now()) fail(1, 'error execution phase control-plane-prepare/download-certs: error downloading certs: error downloading the secret: secret "kubeadm-certs" was not found. Please verify that the secret exists');
  // not recorded: the product does not read this output
  if (config.controlPlane.certificateKey !== uploaded.key) fail(1, 'error execution phase control-plane-prepare/download-certs: error downloading certs: error decoding secret data with provided key: cipher: message authentication failed');
  if (exists(`${MANIFESTS}/kube-apiserver.yaml`)) fail(1, '[preflight] Some fatal errors occurred:\n\t[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: /etc/kubernetes/manifests/kube-apiserver.yaml already exists');
  const address = config.controlPlane.localAPIEndpoint.advertiseAddress;
  const name = config.nodeRegistration.name;
  writePki(fs.readFileSync(clusterFile('ca.crt'), 'utf8'), fs.readFileSync(clusterFile('ca.key'), 'utf8'), server, new Date());
  remove('/etc/kubernetes/super-admin.conf');
  write('/etc/kubernetes/kubelet.conf', kubeletConf(server), 0o600);
  const k8s = fs.readFileSync(clusterFile('version'), 'utf8').trim();
  const repo = JSON.parse(fs.readFileSync(clusterFile('repository.json'), 'utf8'));
  writeManifests(name, address, repo, k8s);
  saveJson('images.json', imagesOf(repo, k8s));
  write('/var/lib/kubelet/config.yaml', kubeletConfig());
  saveEtcdMembers([...etcdMembers().filter((m) => m.name !== name), { id: etcdMemberId(), name, address }]);
  saveJson('kubeadm-join.json', config);
  registerNode(config.nodeRegistration, true);
  // not recorded: the product does not read this output
  return 'This node has joined the cluster and a new control plane instance was created\n';
}

/**
 * The cluster now has this node (its Node object, and its kubelet/kube-proxy answering on its address).
 * As kubeadm v1beta4 does, a control plane whose nodeRegistration.taints is unset gets the control-plane taint.
 */
function registerNode(registration, controlPlane) {
  const address = registration.kubeletExtraArgs.find((a) => a.name === 'node-ip').value;
  const taints = registration.taints ?? (controlPlane ? ['node-role.kubernetes.io/control-plane:NoSchedule'] : []);
  fs.mkdirSync(clusterFile('nodes'), { recursive: true });
  fs.writeFileSync(clusterFile(`nodes/${registration.name}`), address);
  fs.writeFileSync(clusterFile(`taints-${registration.name}.json`), JSON.stringify(taints));
  fs.writeFileSync(clusterFile(`kubelet-${registration.name}`), String(packages().kubelet ?? '').replace(/-.*$/, ''));
  write('.fake/node-name', `${registration.name}\n`);
  // A new Node object takes pods.
  saveCordons(cordons().filter((n) => n !== registration.name), drainedNodes().filter((n) => n !== registration.name));
}
function nodeAddresses() {
  try { return fs.readdirSync(clusterFile('nodes')).map((n) => fs.readFileSync(clusterFile(`nodes/${n}`), 'utf8')); } catch { return []; }
}
/** Whether some node takes ordinary pods (no taint): without one, nothing but the DaemonSets that tolerate everything ever runs. */
function schedulable(except) {
  try {
    return fs.readdirSync(clusterFile('nodes')).some((n) => n !== except && takesPods(n));
  } catch { return false; }
}
/** Whether a node takes ordinary pods: no taint, not cordoned. */
function takesPods(n) {
  return JSON.parse(fs.readFileSync(clusterFile(`taints-${n}.json`), 'utf8')).length === 0 && !cordons().includes(n);
}
/**
 * The Nodes marked unschedulable (cordoned, by a drain), and those of them a drain emptied: $FAKE_CLUSTER/cordons.json.
 * A drain that failed leaves its node cordoned with pods still on it.
 */
function cordonState() { try { return JSON.parse(fs.readFileSync(clusterFile('cordons.json'), 'utf8')); } catch { return { cordoned: [], drained: [] }; } }
function cordons() { return cordonState().cordoned; }
function drainedNodes() { return cordonState().drained; }
function saveCordons(cordoned, drained) {
  if (!fs.existsSync(CLUSTER)) return;
  fs.writeFileSync(clusterFile('cordons.json'), JSON.stringify({ cordoned: [...new Set(cordoned)], drained: [...new Set(drained)] }));
}
/** etcd's revision moves on with every write to the cluster's state. */
function bumpRevision(n = 1) {
  const etcd = etcdState();
  etcd.revision += n;
  fs.writeFileSync(clusterFile('etcd.json'), JSON.stringify(etcd));
}
function etcdState() { try { return JSON.parse(fs.readFileSync(clusterFile('etcd.json'), 'utf8')); } catch { return { revision: 1 }; } }

function createToken(ttl) {
  const token = `${crypto.randomBytes(3).toString('hex')}.${crypto.randomBytes(8).toString('hex')}`;
  let minutes = ttl.endsWith('h') ? Number.parseFloat(ttl) * 60 : Number.parseFloat(ttl);
  // Failure injection: the next token expires at once (as if the join came too late).
  if (fs.existsSync(clusterFile('expire-next-token'))) { fs.rmSync(clusterFile('expire-next-token')); minutes = -1; }
  const file = clusterFile('tokens.json');
  const tokens = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : [];
  tokens.push({ token, expires: Date.now() + minutes * 60_000 });
  fs.writeFileSync(file, JSON.stringify(tokens));
  return token;
}

function caHash(pem) {
  const spki = new crypto.X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${crypto.createHash('sha256').update(spki).digest('hex')}`;
}

// ---- the control plane kubeadm writes: certificates, kubeconfigs, static pods --------

/**
 * The certificates kubeadm makes and renews, in the order kubeadm lists them: name, file, CA, and how
 * `kubeadm certs renew` calls it (kubeadm v1.37.2's words).
 */
const CERTIFICATES = [
  ['admin.conf', '/etc/kubernetes/admin.conf', 'ca', 'certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself'],
  ['apiserver', '/etc/kubernetes/pki/apiserver.crt', 'ca', 'certificate for serving the Kubernetes API'],
  ['apiserver-etcd-client', '/etc/kubernetes/pki/apiserver-etcd-client.crt', 'etcd-ca', 'certificate the apiserver uses to access etcd'],
  ['apiserver-kubelet-client', '/etc/kubernetes/pki/apiserver-kubelet-client.crt', 'ca', 'certificate for the API server to connect to kubelet'],
  ['controller-manager.conf', '/etc/kubernetes/controller-manager.conf', 'ca', 'certificate embedded in the kubeconfig file for the controller manager to use'],
  ['etcd-healthcheck-client', '/etc/kubernetes/pki/etcd/healthcheck-client.crt', 'etcd-ca', 'certificate for liveness probes to healthcheck etcd'],
  ['etcd-peer', '/etc/kubernetes/pki/etcd/peer.crt', 'etcd-ca', 'certificate for etcd nodes to communicate with each other'],
  ['etcd-server', '/etc/kubernetes/pki/etcd/server.crt', 'etcd-ca', 'certificate for serving etcd'],
  ['front-proxy-client', '/etc/kubernetes/pki/front-proxy-client.crt', 'front-proxy-ca', 'certificate for the front proxy client'],
  ['scheduler.conf', '/etc/kubernetes/scheduler.conf', 'ca', 'certificate embedded in the kubeconfig file for the scheduler manager to use'],
  ['super-admin.conf', '/etc/kubernetes/super-admin.conf', 'ca', 'certificate embedded in the kubeconfig file for the super-admin'],
];
const AUTHORITIES = [['ca', '/etc/kubernetes/pki/ca.crt'], ['etcd-ca', '/etc/kubernetes/pki/etcd/ca.crt'], ['front-proxy-ca', '/etc/kubernetes/pki/front-proxy-ca.crt']];
const DAY_MS = 86_400_000;
/** kubeadm makes certificates for a year and CAs for ten. */
const CERTIFICATE_DAYS = 365;
const AUTHORITY_DAYS = 3650;

/**
 * When the certificates and the CAs were issued: .fake/certs.json, { certificates: ISO time, authorities: ISO time }.
 * A test may set it (certificates about to expire, say); renewals set `certificates` to the time they ran.
 */
function certTimes() { return json('certs.json', undefined); }
const privateKeyPem = () => crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'sec1', format: 'pem' });
/** A certificate's file: PEM armour around what it stands for (the fake reads its dates from .fake/certs.json). */
function certificatePem(name, issued, days) {
  const notAfter = new Date(issued.getTime() + days * DAY_MS).toISOString();
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(`fake certificate ${name}, not before ${issued.toISOString()}, not after ${notAfter}`).toString('base64')}\n-----END CERTIFICATE-----\n`;
}
const b64 = (text) => Buffer.from(text).toString('base64');

/** A kubeconfig kubeadm writes for a component, its client certificate embedded. */
function kubeconfigFile(name, user, server, ca, key, issued) {
  return `apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: ${b64(ca)}\n    server: https://${server}\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: ${user}\n  name: ${user}@kubernetes\ncurrent-context: ${user}@kubernetes\nusers:\n- name: ${user}\n  user:\n    client-certificate-data: ${b64(certificatePem(name, issued, CERTIFICATE_DAYS))}\n    client-key-data: ${key}\n`;
}
const KUBECONFIG_USERS = { 'admin.conf': 'kubernetes-admin', 'super-admin.conf': 'kubernetes-super-admin', 'controller-manager.conf': 'system:kube-controller-manager', 'scheduler.conf': 'system:kube-scheduler' };

/** Every certificate of /etc/kubernetes/pki and the kubeconfigs, as kubeadm init writes them (keys 0600). */
function writePki(ca, caKey, server, issued) {
  write('/etc/kubernetes/pki/ca.crt', ca);
  write('/etc/kubernetes/pki/ca.key', caKey, 0o600);
  for (const [, file] of AUTHORITIES.slice(1)) {
    write(file, certificatePem(path.basename(file), issued, AUTHORITY_DAYS));
    write(file.replace(/\.crt$/, '.key'), privateKeyPem(), 0o600);
  }
  write('/etc/kubernetes/pki/sa.key', privateKeyPem(), 0o600);
  write('/etc/kubernetes/pki/sa.pub', crypto.createPublicKey(read('/etc/kubernetes/pki/sa.key')).export({ type: 'spki', format: 'pem' }));
  const certIssued = new Date(issued.getTime() + 1000);
  for (const [name, file] of CERTIFICATES) {
    if (file.endsWith('.conf')) {
      // admin.conf's key: the CA's own, base64 (a secret the tests look for in every output).
      const key = name === 'admin.conf' ? b64(caKey) : b64(privateKeyPem());
      write(file, kubeconfigFile(name, KUBECONFIG_USERS[name], server, ca, key, certIssued), 0o600);
    } else {
      write(file, certificatePem(name, certIssued, CERTIFICATE_DAYS));
      write(file.replace(/\.crt$/, '.key'), privateKeyPem(), 0o600);
    }
  }
  saveJson('certs.json', { certificates: certIssued.toISOString(), authorities: issued.toISOString() });
}

/** `kubeadm certs renew`'s effect: each certificate there is made anew, valid a year from now (the keys kept). */
function renewCertificates(now) {
  for (const [name, file] of CERTIFICATES) {
    const content = read(file);
    if (content === undefined) continue;
    if (file.endsWith('.conf')) write(file, content.replace(/client-certificate-data: \S+/, `client-certificate-data: ${b64(certificatePem(name, now, CERTIFICATE_DAYS))}`), 0o600);
    else write(file, certificatePem(name, now, CERTIFICATE_DAYS));
  }
  saveJson('certs.json', { ...certTimes(), certificates: now.toISOString() });
}

/** kubeadm's time format in its JSON output (RFC 3339, whole seconds). */
const rfc3339 = (date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** `kubeadm certs check-expiration -o json`: output.kubeadm.k8s.io/v1alpha3 CertificateExpirationInfo, as kubeadm v1.37.2 prints it. */
function checkExpiration() {
  const times = certTimes() ?? {};
  const now = Date.now();
  // A missing file: Go's zero time, nothing left.
  const entry = (name, file, issued, days) => {
    if (!exists(file) || !issued) return { name, expirationDate: '0001-01-01T00:00:00Z', residualTime: 0, externallyManaged: false };
    const expires = new Date(new Date(issued).getTime() + days * DAY_MS);
    return { name, expirationDate: rfc3339(expires), residualTime: Math.max(0, Math.floor((expires.getTime() - now) / 1000)), externallyManaged: false };
  };
  return `${JSON.stringify({
    kind: 'CertificateExpirationInfo',
    apiVersion: 'output.kubeadm.k8s.io/v1alpha3',
    certificates: CERTIFICATES.map(([name, file, caName]) => ({ ...entry(name, file, times.certificates, CERTIFICATE_DAYS), caName, missing: !exists(file) })),
    certificateAuthorities: AUTHORITIES.map(([name, file]) => ({ ...entry(name, file, times.authorities, AUTHORITY_DAYS), missing: !exists(file) })),
  }, null, 4)}\n`;
}

/** What kubeadm (the v1.37.2 binary) prints for `kubeadm certs renew all` in a cluster. */
function renewAllOutput() {
  return '[renew] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...\n'
    + "[renew] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.\n\n"
    + CERTIFICATES.map(([, , , what]) => `${what} renewed\n`).join('')
    + '\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.\n';
}

/** The images kubeadm pulls for a version (what `kubeadm config images list` prints). */
function imagesOf(repo, k8s) {
  const minor = Number(k8s.split('.')[1]);
  return ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'].map((c) => `${repo}/${c}:v${k8s}`)
    .concat([`${repo}/coredns/coredns:v1.12.1`, `${repo}/pause:${PAUSE[minor]}`, `${repo}/etcd:${ETCD_IMAGE_TAG}`]);
}
/** The etcd kubeadm 1.35 to 1.37 run. */
const ETCD_IMAGE_TAG = '3.6.5-0';
const CONTROL_PLANE_PODS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
const MANIFESTS = '/etc/kubernetes/manifests';

/** A static pod's manifest in the shape kubeadm writes it (the command's flags sorted, one a line). */
function staticPod(name, image, flags, volumes) {
  return `apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    component: ${name}\n    tier: control-plane\n  name: ${name}\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - ${name}\n${flags.map((f) => `    - --${f}\n`).join('')}    image: ${image}\n    imagePullPolicy: IfNotPresent\n    name: ${name}\n    volumeMounts:\n${volumes.map(([volume, dir]) => `    - mountPath: ${dir}\n      name: ${volume}\n`).join('')}  hostNetwork: true\n  priority: 2000001000\n  priorityClassName: system-node-critical\n  volumes:\n${volumes.map(([volume, dir]) => `  - hostPath:\n      path: ${dir}\n      type: DirectoryOrCreate\n    name: ${volume}\n`).join('')}status: {}\n`;
}

/** The control plane's four static pods (kubeadm init), and etcd's data folder. */
function writeManifests(node, address, repo, k8s) {
  const pki = ['k8s-certs', '/etc/kubernetes/pki'];
  write(`${MANIFESTS}/etcd.yaml`, staticPod('etcd', `${repo}/etcd:${ETCD_IMAGE_TAG}`, [
    `advertise-client-urls=https://${address}:2379`, 'cert-file=/etc/kubernetes/pki/etcd/server.crt', 'client-cert-auth=true', 'data-dir=/var/lib/etcd',
    `initial-advertise-peer-urls=https://${address}:2380`, `initial-cluster=${node}=https://${address}:2380`, 'key-file=/etc/kubernetes/pki/etcd/server.key',
    `listen-client-urls=https://127.0.0.1:2379,https://${address}:2379`, `listen-peer-urls=https://${address}:2380`, `name=${node}`,
    'peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt', 'peer-client-cert-auth=true', 'peer-key-file=/etc/kubernetes/pki/etcd/peer.key',
    'peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt', 'snapshot-count=10000', 'trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt',
  ], [['etcd-data', '/var/lib/etcd'], ['etcd-certs', '/etc/kubernetes/pki/etcd']]));
  write(`${MANIFESTS}/kube-apiserver.yaml`, staticPod('kube-apiserver', `${repo}/kube-apiserver:v${k8s}`, [
    `advertise-address=${address}`, 'client-ca-file=/etc/kubernetes/pki/ca.crt', 'etcd-servers=https://127.0.0.1:2379', 'secure-port=6443',
    'tls-cert-file=/etc/kubernetes/pki/apiserver.crt', 'tls-private-key-file=/etc/kubernetes/pki/apiserver.key',
  ], [pki]));
  write(`${MANIFESTS}/kube-controller-manager.yaml`, staticPod('kube-controller-manager', `${repo}/kube-controller-manager:v${k8s}`, [
    'kubeconfig=/etc/kubernetes/controller-manager.conf', 'leader-elect=true', 'use-service-account-credentials=true',
  ], [pki, ['kubeconfig', '/etc/kubernetes/controller-manager.conf']]));
  write(`${MANIFESTS}/kube-scheduler.yaml`, staticPod('kube-scheduler', `${repo}/kube-scheduler:v${k8s}`, [
    'kubeconfig=/etc/kubernetes/scheduler.conf', 'leader-elect=true',
  ], [['kubeconfig', '/etc/kubernetes/scheduler.conf']]));
  // etcd's data, which it creates at its first start (0700, the database 0600).
  fs.mkdirSync(at('/var/lib/etcd/member/snap'), { recursive: true, mode: 0o700 });
  fs.chmodSync(at('/var/lib/etcd'), 0o700);
  write('/var/lib/etcd/member/snap/db', `${JSON.stringify({ fakeEtcd: 'bbolt database', member: node, created: new Date().toISOString() })}\n`, 0o600);
}

/** What kubeadm writes from the cluster's kubelet-config ConfigMap (init, join, upgrade). */
function kubeletConfig() {
  return 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\nclusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\n';
}

/** This node's name in the cluster (set when it was initialised or joined). */
function nodeName() { return read('.fake/node-name', '').trim(); }

/** A kubelet (re)started: its Node reports the installed kubelet's version (only a node in the cluster has one). */
function kubeletStarted() {
  const name = nodeName();
  if (!name || !exists('/etc/kubernetes/kubelet.conf') || !fs.existsSync(clusterFile(`nodes/${name}`))) return;
  fs.writeFileSync(clusterFile(`kubelet-${name}`), String(packages().kubelet ?? '').replace(/-.*$/, ''));
}

// ---- kubeadm upgrade -----------------------------------------------------------

function compareVersions(a, b) {
  const [x, y] = [a, b].map((v) => v.replace(/^v/, '').split('.').map(Number));
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/** kubeadm's version policy (cmd/kubeadm/app/phases/upgrade/policy.go): the mandatory errors, as it words them. */
function upgradePolicy(target, kubeadmVersion, clusterVersion) {
  const [t, k, c] = [target, kubeadmVersion, clusterVersion].map((v) => minorOfVersion(v.replace(/^v/, '')));
  const errors = [];
  if (t > c + 1) errors.push(`Specified version to upgrade to "v${target}" is too high; kubeadm can upgrade only 1 minor version at a time`);
  if (t < c - 1) errors.push(`Specified version to downgrade to "v${target}" is too low; kubeadm can downgrade only 1 minor version at a time`);
  if (compareVersions(kubeadmVersion, target) < 0) {
    errors.push(t > k ? `Specified version to upgrade to "v${target}" is at least one minor release higher than the kubeadm minor release (${t} > ${k}). Such an upgrade is not supported`
      : `Specified version to upgrade to "v${target}" is higher than the kubeadm version "v${kubeadmVersion}". Upgrade kubeadm first using the tool you used to install kubeadm`);
  }
  if (k > t) errors.push(`Kubeadm version v${kubeadmVersion} can only be used to upgrade to Kubernetes version 1.${k}`);
  // not recorded: the product does not read this output
  if (errors.length) fail(1, `[upgrade/version] FATAL: the --version argument is invalid due to these errors:\n\n${errors.map((e) => `\t- ${e}\n`).join('')}\nCan be bypassed if you pass the --force flag\nTo see the stack trace of this error execute with --v=5 or higher`);
}

/** The control plane's static pods moved to a version: the image tags of the API server, controller manager and scheduler (etcd's is the same for 1.35 to 1.37). */
function upgradeManifests(k8s) {
  for (const pod of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
    const file = `${MANIFESTS}/${pod}.yaml`;
    const content = read(file);
    if (content !== undefined) write(file, content.replace(new RegExp(`(image: \\S+/${pod}):v\\S+`), `$1:v${k8s}`));
  }
}

function kubeadmUpgrade(args, kubeadmVersion) {
  const sub = args[1];
  if (!exists('/etc/kubernetes/kubelet.conf')) {
    // not recorded: the product does not read this output
    fail(1, 'couldn\'t create a Kubernetes client from file "/etc/kubernetes/kubelet.conf": failed to load admin kubeconfig: open /etc/kubernetes/kubelet.conf: no such file or directory');
  }
  const clusterVersion = fs.readFileSync(clusterFile('version'), 'utf8').trim();
  if (sub === 'plan' || sub === 'apply') {
    if (!exists('/etc/kubernetes/admin.conf')) fail(1, 'couldn\'t create a Kubernetes client from file "/etc/kubernetes/admin.conf": failed to load admin kubeconfig: open /etc/kubernetes/admin.conf: no such file or directory'); // not recorded
    const target = (args.slice(2).find((a) => /^v?\d+\.\d+\.\d+$/.test(a)) ?? `v${kubeadmVersion}`).replace(/^v/, '');
    upgradePolicy(target, kubeadmVersion, clusterVersion);
    // not recorded: the product does not read this output
    if (sub === 'plan') return `[upgrade/versions] Target version: v${target}\n`;
    // not recorded: the product does not read this output
    if (!args.includes('--yes') && !args.includes('-y')) fail(1, "[upgrade] Are you sure you want to proceed? [y/N]: error: won't proceed; the user didn't answer (Y|y) in order to continue");
    const repo = /image: (\S+)\/kube-apiserver:/.exec(read(`${MANIFESTS}/kube-apiserver.yaml`, ''))?.[1] ?? 'registry.k8s.io';
    upgradeManifests(target);
    saveJson('images.json', [...new Set([...json('images.json', []), ...imagesOf(repo, target)])]);
    write('/var/lib/kubelet/config.yaml', kubeletConfig());
    // By default (--certificate-renewal=true) an upgrade renews the control plane's certificates.
    renewCertificates(new Date());
    fs.writeFileSync(clusterFile('version'), target);
    // CoreDNS and kube-proxy move with the cluster.
    fs.writeFileSync(clusterFile('addons-version'), target);
    // not recorded: the product does not read this output
    return `[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "v${target}".\n`;
  }
  if (sub === 'node') {
    write('/var/lib/kubelet/config.yaml', kubeletConfig());
    // A further control plane: its static pods move to the cluster's version, its certificates are renewed.
    if (exists(`${MANIFESTS}/kube-apiserver.yaml`)) {
      upgradeManifests(clusterVersion);
      renewCertificates(new Date());
    }
    // not recorded: the product does not read this output
    return '[upgrade] The configuration for this node was successfully upgraded!\n';
  }
  fail(1, `fake kubeadm: unsupported ${args.join(' ')}`);
}

function kubeadmCerts(args) {
  if (args[1] === 'check-expiration' && args.slice(2).join(' ') === '-o json') return checkExpiration();
  if (args.slice(1).join(' ') === 'renew all') {
    if (!exists('/etc/kubernetes/pki/ca.key')) fail(1, 'error: failed to load CA: couldn\'t load the certificate file /etc/kubernetes/pki/ca.crt: open /etc/kubernetes/pki/ca.crt: no such file or directory'); // not recorded
    renewCertificates(new Date());
    return renewAllOutput();
  }
  fail(1, `fake kubeadm: unsupported ${args.join(' ')}`);
}

// ---- kubectl and curl against the fake cluster ------------------------------------

function kubectlLog(line) { fs.appendFileSync(clusterFile('kubectl.log'), `${line}\n`); }
function applied() { try { return JSON.parse(fs.readFileSync(clusterFile('applied.json'), 'utf8')); } catch { return {}; } }
function waited(what) { return fs.existsSync(clusterFile('kubectl.log')) && fs.readFileSync(clusterFile('kubectl.log'), 'utf8').split('\n').includes(`waited ${what}`); }

/**
 * The Deployment (its name) whose PodDisruptionBudget stops its pods from all leaving at once: more replicas than
 * the budget lets be unavailable (maxUnavailable, or replicas - minAvailable). Undefined when none.
 */
function budgetsBlocking(objects) {
  const bodies = Object.values(objects).map((body) => JSON.parse(body));
  for (const budget of bodies.filter((o) => o.kind === 'PodDisruptionBudget')) {
    const labels = budget.spec.selector?.matchLabels ?? {};
    const deployment = bodies.find((o) => o.kind === 'Deployment' && (o.metadata.namespace ?? '') === (budget.metadata.namespace ?? '')
      && Object.entries(labels).every(([k, v]) => o.spec.template?.metadata?.labels?.[k] === v));
    if (!deployment) continue;
    const replicas = deployment.spec.replicas ?? 1;
    const allowed = budget.spec.maxUnavailable !== undefined ? Number(budget.spec.maxUnavailable) : replicas - Number(budget.spec.minAvailable ?? 0);
    if (replicas > allowed) return deployment.metadata.name;
  }
  return undefined;
}

/** kubectl exec into a pod of the control plane's node: etcd's, with etcdctl and etcdutl. */
function kubectlExec(args) {
  const [pod, dashes, program, ...rest] = args;
  if (dashes !== '--') fail(1, `fake kubectl: unsupported exec ${args.join(' ')}`);
  const node = nodeName();
  const running = pod === `etcd-${node}` && exists(`${MANIFESTS}/etcd.yaml`) && json('services.json', {}).kubelet?.active;
  if (!running) fail(1, `Error from server (NotFound): pods "${pod}" not found`);
  if (program === 'etcdctl') return etcdctl(rest);
  if (program === 'etcdutl') return etcdutl(rest, etcdPodPath);
  // not recorded: the product does not read this output
  fail(126, `error: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "0b1c": OCI runtime exec failed: exec failed: unable to start container process: exec: "${program}": executable file not found in $PATH: unknown`);
}

function kubectl(args) {
  // Failure injection: $FAKE_CLUSTER/api-down holds how many more applies, waits and Node look-ups find no API server (it restarts, say).
  const down = Number(fs.existsSync(clusterFile('api-down')) ? fs.readFileSync(clusterFile('api-down'), 'utf8') : 0);
  const nodeLookup = args.includes('get') && args.includes('node');
  if (down > 0 && (['apply', 'wait', 'rollout'].some((verb) => args.includes(verb)) || nodeLookup)) {
    fs.writeFileSync(clusterFile('api-down'), String(down - 1));
    kubectlLog(`refused ${args.filter((a) => !a.startsWith('--kubeconfig=')).slice(0, 2).join(' ')}`);
    fail(1, 'The connection to the server 192.168.83.133:6443 was refused - did you specify the right host or port?');
  }
  // Failure injection: $FAKE_CLUSTER/api-down-waits holds how many more waits (kubectl wait, rollout status) find no API
  // server: an outage that begins after an apply went through.
  const downForWaits = Number(fs.existsSync(clusterFile('api-down-waits')) ? fs.readFileSync(clusterFile('api-down-waits'), 'utf8') : 0);
  if (downForWaits > 0 && (args.includes('wait') || args.includes('rollout'))) {
    fs.writeFileSync(clusterFile('api-down-waits'), String(downForWaits - 1));
    kubectlLog(`refused ${args.filter((a) => !a.startsWith('--kubeconfig=')).slice(0, 2).join(' ')}`);
    fail(1, 'Unable to connect to the server: dial tcp 192.168.83.133:6443: connect: connection refused');
  }
  const kubeconfig = (args.find((a) => a.startsWith('--kubeconfig=')) ?? '').split('=')[1];
  if (!kubeconfig || !exists(kubeconfig)) fail(1, `error: stat ${kubeconfig}: no such file or directory`);
  args = args.filter((a) => !a.startsWith('--kubeconfig='));
  // The API server is a static pod of the control plane: with its manifest out of the kubelet's folder, it does not run.
  const server = /server: https:\/\/(\S+)/.exec(read(kubeconfig, ''))?.[1] ?? '127.0.0.1:6443';
  if (!exists(`${MANIFESTS}/kube-apiserver.yaml`)) fail(1, `The connection to the server ${server} was refused - did you specify the right host or port?`);
  if (!exists(`${MANIFESTS}/etcd.yaml`)) {
    // not recorded: the product does not read this output
    if (args[0] === 'get' && args[1] === '--raw=/readyz') fail(1, 'Error from server (InternalError): an error on the server ("[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\nreadyz check failed") has prevented the request from succeeding');
    fail(1, 'Error from server: etcdserver: request timed out'); // not recorded
  }
  const objects = applied();
  const has = (kind, name) => Object.keys(objects).some((k) => k.startsWith(`${kind}/`) && k.endsWith(`/${name}`));
  if (args[0] === 'apply') {
    const docs = parseYamlDocs(fs.readFileSync(0, 'utf8')).filter(Boolean);
    const out = [];
    // A kind of the Gateway API needs its CRD applied before, as the real kubectl maps kinds before it applies anything.
    const served = (doc) => Object.values(objects).map((body) => JSON.parse(body))
      .some((o) => o.kind === 'CustomResourceDefinition' && `${o.spec.group}/` === doc.apiVersion.replace(/[^/]+$/, '') && o.spec.names.kind === doc.kind);
    const unserved = docs.find((doc) => doc.apiVersion.startsWith('gateway.networking.k8s.io/') && !served(doc));
    if (unserved) fail(1, `error: resource mapping not found for name: "${unserved.metadata.name}" namespace: "${unserved.metadata.namespace ?? ''}" from "STDIN": no matches for kind "${unserved.kind}" in version "${unserved.apiVersion}"\nensure CRDs are installed first`);
    for (const doc of docs) {
      // ingress-nginx's admission webhook turns every Ingress away until the webhook has its CA (Traefik has no webhook).
      if (doc.kind === 'Ingress' && has('ValidatingWebhookConfiguration', 'ingress-nginx-admission') && !waited('webhook-ca')) fail(1, `Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "validate.nginx.ingress.kubernetes.io": failed to call webhook: no endpoints available for service "ingress-nginx-controller-admission"`);
      const key = `${doc.kind}/${doc.metadata.namespace ?? ''}/${doc.metadata.name}`;
      const body = JSON.stringify(doc);
      // Server-side, kubectl says the same of every object, changed or not (a resourceVersion tells).
      const kind = doc.kind === 'CustomResourceDefinition' ? 'customresourcedefinition.apiextensions.k8s.io' : doc.kind.toLowerCase();
      if (args.includes('--server-side')) out.push(`${kind}/${doc.metadata.name} serverside-applied`);
      else out.push(`${kind}/${doc.metadata.name} ${objects[key] === undefined ? 'created' : objects[key] === body ? 'unchanged' : 'configured'}`);
      if (objects[key] !== body) bumpRevision();
      objects[key] = body;
      // The admission Jobs write the certificate Secret, then delete themselves (ttlSecondsAfterFinished: 0).
      if (doc.kind === 'Job') { fs.writeFileSync(clusterFile('secret-ingress-nginx-admission'), ''); delete objects[key]; }
    }
    fs.writeFileSync(clusterFile('applied.json'), JSON.stringify(objects));
    kubectlLog(`apply ${docs.map((d) => `${d.kind}/${d.metadata.name}`).join(' ')}`);
    return `${out.join('\n')}\n`;
  }
  const line = args.join(' ');
  // kubectl diff: each object that would change, as the real one names its files (<group>.<version>.<Kind>.<namespace>.<name>
  // under LIVE- and MERGED- folders); exit 1 when any would, 0 when none.
  if (args[0] === 'diff') {
    const docs = parseYamlDocs(fs.readFileSync(0, 'utf8')).filter(Boolean);
    const differing = docs.filter((doc) => objects[`${doc.kind}/${doc.metadata.namespace ?? ''}/${doc.metadata.name}`] !== JSON.stringify(doc));
    if (!differing.length) return '';
    // As kubectl names them: the namespace the object goes to (default when the manifest names none), empty for cluster-wide kinds.
    const CLUSTER_WIDE = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'IngressClass', 'GatewayClass', 'ValidatingWebhookConfiguration', 'PriorityClass'];
    const namespace = (doc) => (CLUSTER_WIDE.includes(doc.kind) ? '' : doc.metadata.namespace ?? 'default');
    const file = (doc) => `${doc.apiVersion.includes('/') ? doc.apiVersion.replace('/', '.') : doc.apiVersion}.${doc.kind}.${namespace(doc)}.${doc.metadata.name}`;
    throw new Exit(1, differing.map((doc) => `diff -u -N /tmp/LIVE-1234/${file(doc)} /tmp/MERGED-5678/${file(doc)}\n--- /tmp/LIVE-1234/${file(doc)}\n+++ /tmp/MERGED-5678/${file(doc)}\n`).join(''), '');
  }
  // The objects of a manifest (kind, namespace, name) with their resourceVersions, which change when an object does (here: its content's hash).
  if (args[0] === 'get' && args.includes('-f') && args.includes('--ignore-not-found')) {
    const docs = parseYamlDocs(fs.readFileSync(0, 'utf8')).filter(Boolean);
    const version = (body) => String(parseInt(crypto.createHash('sha256').update(body).digest('hex').slice(0, 8), 16));
    return docs.map((doc) => objects[`${doc.kind}/${doc.metadata.namespace ?? ''}/${doc.metadata.name}`])
      .filter(Boolean).map((body) => JSON.parse(body)).map((o) => `${o.kind}   ${o.metadata.namespace ?? '<none>'}   ${o.metadata.name}   ${version(JSON.stringify(o))}\n`).join('');
  }
  // Failure injection: a wait whose command line contains the text in $FAKE_CLUSTER/fail-wait times out.
  const failWait = fs.existsSync(clusterFile('fail-wait')) ? fs.readFileSync(clusterFile('fail-wait'), 'utf8').trim() : '';
  if (failWait && (args[0] === 'wait' || line.includes('rollout status')) && line.includes(failWait)) {
    fail(1, 'error: timed out waiting for the condition');
  }
  const nodes = args.filter((a) => a.startsWith('node/')).map((a) => a.slice(5));
  const missing = nodes.filter((n) => !fs.existsSync(clusterFile(`nodes/${n}`)));
  if (args[0] === 'wait' && line.includes('--for=create node/')) {
    if (missing.length) fail(1, `error: timed out waiting for the condition on nodes/${missing[0]}`);
    return nodes.map((n) => `node/${n} condition met\n`).join('');
  }
  if (args[0] === 'wait' && line.includes('--for=jsonpath={.status.nodeInfo.kubeletVersion}=')) {
    const wanted = /--for=jsonpath=\{\.status\.nodeInfo\.kubeletVersion\}=(\S+)/.exec(line)[1];
    if (missing.length) fail(1, `Error from server (NotFound): nodes "${missing[0]}" not found`);
    const behind = nodes.find((n) => `v${fs.readFileSync(clusterFile(`kubelet-${n}`), 'utf8')}` !== wanted);
    if (behind) fail(1, `error: timed out waiting for the condition on nodes/${behind}`);
    kubectlLog(`waited kubelet ${wanted} ${nodes.join(' ')}`);
    return nodes.map((n) => `node/${n} condition met\n`).join('');
  }
  if (args[0] === 'wait' && line.includes('--for=condition=Ready node --all')) {
    const all = fs.existsSync(clusterFile('nodes')) ? fs.readdirSync(clusterFile('nodes')).sort() : [];
    if (!has('DaemonSet', 'kube-flannel-ds')) fail(1, `error: timed out waiting for the condition on nodes/${all[0]}`);
    kubectlLog('waited all-nodes-ready');
    return all.map((n) => `node/${n} condition met\n`).join('');
  }
  if (args[0] === 'wait' && line.includes('--for=condition=Ready node/')) {
    if (!has('DaemonSet', 'kube-flannel-ds') || missing.length) fail(1, `error: timed out waiting for the condition on nodes/${missing[0] ?? nodes[0]}`);
    kubectlLog('waited nodes-ready');
    return nodes.map((n) => `node/${n} condition met\n`).join('');
  }
  if (args[0] === '-n' && args[2] === 'create' && args[3] === 'token') {
    if (!has('ServiceAccount', args[4])) fail(1, `error: failed to create token: serviceaccounts "${args[4]}" not found`);
    kubectlLog(`token ${args[4]} ${args.find((a) => a.startsWith('--duration='))}`);
    return `eyJhbGciOiJSUzI1NiJ9.fake-token-for-${args[4]}.${crypto.randomBytes(12).toString('hex')}\n`;
  }
  if (args[0] === '-n' && args[2] === 'get' && args[3] === 'secret') {
    if (!fs.existsSync(clusterFile(`secret-${args[4]}`))) fail(1, `Error from server (NotFound): secrets "${args[4]}" not found`);
    return `secret/${args[4]}\n`;
  }
  if (line.includes('rollout status')) {
    const [kind, name] = args[args.indexOf('status') + 1].split('/');
    const kinds = { daemonset: 'DaemonSet', deployment: 'Deployment' };
    // kubeadm's CoreDNS exists once init ran.
    const kubeadmAddon = name === 'coredns' && args.includes('kube-system') && fs.existsSync(clusterFile('ca.crt'));
    if (!has(kinds[kind], name) && !kubeadmAddon) fail(1, `Error from server (NotFound): ${kind}s.apps "${name}" not found`);
    // Pods that tolerate no taint stay Pending on tainted nodes: a Deployment's rollout never finishes there,
    // while a DaemonSet that fits no node wants no pod and is rolled out at once.
    if (kind === 'deployment' && !schedulable()) fail(1, 'error: timed out waiting for the condition');
    kubectlLog(`waited rollout ${name}`);
    return `${kind} "${name}" successfully rolled out\n`;
  }
  if (args[0] === 'wait' && line.includes('--for=condition=Established')) {
    const crds = args.filter((a) => a.startsWith('crd/')).map((a) => a.slice(4));
    const absent = crds.find((name) => !has('CustomResourceDefinition', name));
    if (absent) fail(1, `Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "${absent}" not found`);
    kubectlLog('waited crds-established');
    return crds.map((name) => `customresourcedefinition.apiextensions.k8s.io/${name} condition met\n`).join('');
  }
  if (line.includes('wait --for=condition=Programmed gateway/')) {
    // Traefik programs its Gateway once it runs.
    const name = args.find((a) => a.startsWith('gateway/')).slice(8);
    if (!has('Gateway', name)) fail(1, `Error from server (NotFound): gateways.gateway.networking.k8s.io "${name}" not found`);
    if (!waited('rollout traefik')) fail(1, 'error: timed out waiting for the condition');
    kubectlLog('waited gateway-programmed');
    return `gateway.gateway.networking.k8s.io/${name} condition met\n`;
  }
  if (args.includes('wait') && line.includes('httproute/')) {
    const name = args.find((a) => a.startsWith('httproute/')).slice(10);
    if (!has('HTTPRoute', name)) fail(1, `Error from server (NotFound): httproutes.gateway.networking.k8s.io "${name}" not found`);
    if (!waited('gateway-programmed')) fail(1, 'error: timed out waiting for the condition');
    kubectlLog('waited httproute-accepted');
    return `httproute.gateway.networking.k8s.io/${name} condition met\n`;
  }
  if (args[0] === 'wait' && line.includes('caBundle')) {
    // The admission Jobs fill in the CA: they need a node that takes ordinary pods.
    if (!has('ValidatingWebhookConfiguration', 'ingress-nginx-admission') || !waited('rollout ingress-nginx-controller') || !schedulable()) fail(1, 'error: timed out waiting for the condition');
    kubectlLog('waited webhook-ca');
    return 'validatingwebhookconfiguration.admissionregistration.k8s.io/ingress-nginx-admission condition met\n';
  }
  if (args[0] === 'get' && args[1] === 'node') {
    if (!fs.existsSync(clusterFile(`nodes/${args[2]}`))) fail(1, `Error from server (NotFound): nodes "${args[2]}" not found`);
    const output = args[args.indexOf('-o') + 1];
    // jsonpath prints the field's value with no newline; a field that is not set prints nothing.
    if (output === 'jsonpath={.spec.unschedulable}') return cordons().includes(args[2]) ? 'true' : '';
    if (output === 'jsonpath={.status.nodeInfo.kubeletVersion}') return `v${fs.readFileSync(clusterFile(`kubelet-${args[2]}`), 'utf8')}`;
    if (args.includes('-o') && output !== 'name') fail(1, `fake kubectl: unsupported ${line}`);
    return `node/${args[2]}\n`;
  }
  if (args[0] === 'uncordon') {
    if (!fs.existsSync(clusterFile(`nodes/${args[1]}`))) fail(1, `Error from server (NotFound): nodes "${args[1]}" not found`);
    const was = cordons().includes(args[1]);
    saveCordons(cordons().filter((n) => n !== args[1]), drainedNodes().filter((n) => n !== args[1]));
    if (!was) return `node/${args[1]} already uncordoned\n`;
    bumpRevision();
    kubectlLog(`uncordoned ${args[1]}`);
    return `node/${args[1]} uncordoned\n`;
  }
  if (args[0] === '-n' && args[2] === 'exec') return kubectlExec(args.slice(3));
  if (args[0] === 'get' && args[1] === 'nodes' && line.endsWith('-o json')) {
    // Ready once the pod network runs (flannel's DaemonSet applied), as a real node becomes.
    const ready = has('DaemonSet', 'kube-flannel-ds');
    const names = fs.existsSync(clusterFile('nodes')) ? fs.readdirSync(clusterFile('nodes')) : [];
    const items = names.map((name) => ({
      kind: 'Node',
      metadata: { name },
      spec: cordons().includes(name) ? { unschedulable: true } : {},
      status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }], nodeInfo: { kubeletVersion: `v${fs.readFileSync(clusterFile(`kubelet-${name}`), 'utf8')}` } },
    }));
    return JSON.stringify({ kind: 'List', items });
  }
  if (args[0] === 'get' && args[1] === 'daemonsets,deployments' && line.endsWith('-o json')) {
    // What was applied, and kubeadm's own add-ons once init ran. A DaemonSet runs on every node once the
    // pod network does; a Deployment's pods also need a node that takes ordinary pods.
    const network = has('DaemonSet', 'kube-flannel-ds');
    const nodeCount = fs.existsSync(clusterFile('nodes')) ? fs.readdirSync(clusterFile('nodes')).length : 0;
    const docs = Object.values(objects).map((body) => JSON.parse(body)).filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment');
    if (fs.existsSync(clusterFile('ca.crt'))) {
      docs.push({ kind: 'Deployment', metadata: { name: 'coredns', namespace: 'kube-system' }, spec: { replicas: 2 } });
      docs.push({ kind: 'DaemonSet', metadata: { name: 'kube-proxy', namespace: 'kube-system' }, spec: {} });
    }
    const items = docs.map((o) => {
      const metadata = { ...o.metadata, namespace: o.metadata.namespace ?? 'default', generation: 1 };
      if (o.kind === 'DaemonSet') {
        const running = network || o.metadata.name === 'kube-proxy' || o.metadata.name === 'kube-flannel-ds' ? nodeCount : 0;
        return { kind: o.kind, metadata, status: { observedGeneration: 1, desiredNumberScheduled: nodeCount, updatedNumberScheduled: nodeCount, numberAvailable: running } };
      }
      const replicas = o.spec.replicas ?? 1;
      const running = network && schedulable() ? replicas : 0;
      return { kind: o.kind, metadata, spec: { replicas }, status: { observedGeneration: 1, replicas, updatedReplicas: replicas, availableReplicas: running } };
    });
    return JSON.stringify({ kind: 'List', items });
  }
  if (args[0] === 'drain') {
    if (!fs.existsSync(clusterFile(`nodes/${args[1]}`))) fail(1, `Error from server (NotFound): nodes "${args[1]}" not found`);
    // Every node runs kube-proxy's and flannel's DaemonSet pods: the real kubectl cordons, then refuses to evict them
    // unless told to leave them (its drain filters' words).
    if (!args.includes('--ignore-daemonsets')) {
      const pods = `kube-flannel/kube-flannel-ds-${args[1]}, kube-system/kube-proxy-${args[1]}`;
      saveCordons([...cordons(), args[1]], drainedNodes());
      throw new Exit(1, `node/${args[1]} cordoned\n`, `error: unable to drain node "${args[1]}" due to error: cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ${pods}, continuing command...\nThere are pending nodes to be drained:\n ${args[1]}\ncannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ${pods}`);
    }
    const cordoned = `node/${args[1]} ${cordons().includes(args[1]) ? 'already cordoned' : 'cordoned'}\n`;
    // Evictions honour PodDisruptionBudgets: a Deployment's pods on this node can leave only while another node
    // takes them, or as many as the budget lets go unavailable; else kubectl retries the eviction until its timeout.
    const hadPods = takesPods(args[1]) || (cordons().includes(args[1]) && !drainedNodes().includes(args[1]));
    saveCordons([...cordons(), args[1]], drainedNodes());
    bumpRevision();
    const blocked = hadPods && !schedulable() && budgetsBlocking(objects);
    if (blocked) {
      const timeout = (args.find((a) => a.startsWith('--timeout=')) ?? '--timeout=0s').split('=')[1];
      const pod = `${blocked}-7d9c8b5f4-x2kq9`;
      // not recorded: the product does not read this output
      throw new Exit(1, `${cordoned}evicting pod default/${pod}\n`, `error when evicting pods/"${pod}" -n "default" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.\nThere are pending nodes to be drained:\n ${args[1]}\nerror: unable to drain node "${args[1]}" due to error: [error when evicting pods/"${pod}" -n "default": global timeout reached: ${timeout}], continuing command...`);
    }
    saveCordons(cordons(), [...drainedNodes(), args[1]]);
    kubectlLog(`drained ${args[1]}`);
    return `${cordoned}node/${args[1]} drained\n`;
  }
  if (args[0] === 'delete' && args[1] === 'node') {
    if (!fs.existsSync(clusterFile(`nodes/${args[2]}`))) fail(1, `Error from server (NotFound): nodes "${args[2]}" not found`);
    fs.rmSync(clusterFile(`nodes/${args[2]}`));
    saveCordons(cordons().filter((n) => n !== args[2]), drainedNodes().filter((n) => n !== args[2]));
    bumpRevision();
    kubectlLog(`deleted node ${args[2]}`);
    return `node "${args[2]}" deleted\n`;
  }
  if (args[0] === 'get' && args[1] === '--raw=/readyz') {
    if (!exists('/etc/kubernetes/manifests/kube-apiserver.yaml')) fail(1, 'The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?');
    return 'ok';
  }
  if (args[0] === 'get' && line.includes('service')) {
    const name = args[args.indexOf('service') + 1];
    const service = Object.entries(objects).find(([k]) => k.startsWith('Service/') && k.endsWith(`/${name}`));
    if (!service) fail(1, `Error from server (NotFound): services "${name}" not found`);
    const ports = JSON.parse(service[1]).spec.ports;
    const named = /@\.name=="([^"]+)"/.exec(line)?.[1];
    const port = named ? ports.find((p) => p.name === named) : ports[0];
    return String(port.nodePort ?? (name === 'tomcat6' ? 31234 : 30080));
  }
  fail(1, `fake kubectl: unsupported ${line}`);
}

function curl(args) {
  if (!args.includes('-w')) {
    write(args[args.indexOf('-o') + 1], `-----BEGIN PGP PUBLIC KEY BLOCK-----\nfake key from ${args[args.length - 1]}\n-----END PGP PUBLIC KEY BLOCK-----\n`);
    return '';
  }
  const objects = applied();
  const header = args.includes('-H') ? args[args.indexOf('-H') + 1].replace(/^Host: /, '') : undefined;
  // Only a node that is in the cluster answers. Without a Host header, tomcat6's NodePort; with one, the route
  // (an Ingress rule or an HTTPRoute) of that host, to the Service of a Deployment of the same name.
  const address = new URL(args[args.length - 1]).hostname;
  const bodies = Object.values(objects).map((body) => JSON.parse(body));
  const routed = (o) => (o.kind === 'Ingress' && o.spec.rules.some((r) => r.host === header) && { name: o.spec.rules[0].http.paths[0].backend.service.name, namespace: o.metadata.namespace ?? '' })
    || (o.kind === 'HTTPRoute' && o.spec.hostnames.includes(header) && { name: o.spec.rules[0].backendRefs[0].name, namespace: o.metadata.namespace ?? '' });
  const backend = header === undefined ? { name: 'tomcat6', namespace: '' } : bodies.map(routed).find(Boolean);
  const ok = nodeAddresses().includes(address) && backend && Object.keys(objects).includes(`Deployment/${backend.namespace}/${backend.name}`);
  fs.appendFileSync(clusterFile('curl.log'), `${args.join(' ')}\n`);
  if (!ok) throw new Exit(7, '000');
  return '200';
}

// ---- etcd: snapshots, etcdctl and etcdutl ---------------------------------------------

/** The first line of the fake's snapshot files (a real one is a bbolt database). */
const SNAPSHOT_MAGIC = 'FAKE-ETCD-SNAPSHOT v1';
/** A file as the etcd pod sees it: its hostPath folders are the node's, the rest is the container's own. */
function etcdPodPath(file) {
  return ['/var/lib/etcd/', '/etc/kubernetes/pki/etcd/'].some((dir) => file.startsWith(dir)) ? file : `/.fake/etcd-pod${file}`;
}
const flagValue = (args, name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

function etcdctl(args) {
  for (const flag of ['cacert', 'cert', 'key']) {
    const file = flagValue(args, flag);
    // not recorded: the product does not read this output
    if (file !== undefined && !exists(etcdPodPath(file))) fail(1, `Error: open ${file}: no such file or directory`);
  }
  const words = args.filter((a) => !a.startsWith('--'));
  if (words[0] === 'member' && words[1] === 'list') return etcdMemberList(args);
  if (words[0] === 'endpoint' && words[1] === 'health') return etcdEndpointHealth(args);
  if (words[0] !== 'snapshot' || words[1] !== 'save' || !words[2]) fail(1, `fake etcdctl: unsupported ${args.join(' ')}`);
  const file = words[2];
  const target = etcdPodPath(file);
  if (!exists(path.dirname(target))) fail(1, `Error: could not open ${file}.part (open ${file}.part: no such file or directory)`); // not recorded
  const { revision } = etcdState();
  write(target, `${SNAPSHOT_MAGIC}\n${JSON.stringify({ member: nodeName(), revision, takenAt: new Date().toISOString(), objects: applied() })}\n`, 0o600);
  // not recorded: the product does not read this output
  return `Snapshot saved at ${file}\n`;
}

/**
 * Which members do not answer: $FAKE_CLUSTER/etcd-down holds their names, one a line (failure injection: a
 * control plane that is off).
 */
function etcdDown() { try { return fs.readFileSync(clusterFile('etcd-down'), 'utf8').split('\n').filter(Boolean); } catch { return []; } }

/** `etcdctl member list -w json`, in the shape etcdctl v3.7.0 prints it (recorded from a real three-member cluster). */
function etcdMemberList(args) {
  if (args[args.indexOf('-w') + 1] !== 'json') fail(1, `fake etcdctl: unsupported ${args.join(' ')}`);
  const members = etcdMembers();
  const own = members.find((m) => m.name === nodeName()) ?? members[0];
  const member = (m) => `{"ID":${m.id},"name":"${m.name}","peerURLs":["https://${m.address}:2380"],"clientURLs":["https://${m.address}:2379"]}`;
  return `{"header":{"cluster_id":17300438976491492131,"member_id":${own.id},"raft_term":2},"members":[${members.map(member).join(',')}]}\n`;
}

/** `etcdctl endpoint health --cluster -w json`, as etcdctl v3.7.0 prints it: every endpoint, exit 1 when one is unhealthy (recorded). */
function etcdEndpointHealth(args) {
  if (!args.includes('--cluster') || args[args.indexOf('-w') + 1] !== 'json') fail(1, `fake etcdctl: unsupported ${args.join(' ')}`);
  const down = etcdDown();
  const results = etcdMembers().map((m) => (down.includes(m.name)
    ? `{"endpoint":"https://${m.address}:2379","health":false,"took":"5.002205039s","error":"context deadline exceeded"}`
    : `{"endpoint":"https://${m.address}:2379","health":true,"took":"6.044379ms"}`));
  const out = `[${results.join(',')}]\n`;
  if (etcdMembers().some((m) => down.includes(m.name))) throw new Exit(1, out, 'Error: unhealthy cluster\n');
  return out;
}

/** A snapshot file's content, or undefined when it is not one. */
function parseSnapshot(content) {
  if (!content?.startsWith(`${SNAPSHOT_MAGIC}\n`)) return undefined;
  try { return JSON.parse(content.slice(SNAPSHOT_MAGIC.length + 1)); } catch { return undefined; }
}

/** etcdutl, in the etcd pod (`where` maps its paths) or from the mounted etcd image on the node. */
function etcdutl(args, where) {
  const words = args.filter((a) => !a.startsWith('-'));
  if (words[0] !== 'snapshot' || !words[2]) fail(1, `fake etcdutl: unsupported ${args.join(' ')}`);
  const file = words[2];
  const content = exists(where(file)) ? fs.readFileSync(at(where(file))) : undefined;
  // not recorded: the product does not read this output
  if (content === undefined) fail(1, `Error: stat ${file}: no such file or directory`);
  const snapshot = parseSnapshot(content.toString('utf8'));
  // not recorded: the product does not read this output
  if (!snapshot) fail(1, 'Error: invalid database');
  if (words[1] === 'status') {
    if (args[args.indexOf('-w') + 1] !== 'json') fail(1, `fake etcdutl: unsupported ${args.join(' ')}`);
    const hash = Number.parseInt(crypto.createHash('sha256').update(content).digest('hex').slice(0, 8), 16);
    // not recorded: the product parses this output (etcdutl's own fields)
    return `${JSON.stringify({ hash, revision: snapshot.revision, totalKey: Object.keys(snapshot.objects).length, totalSize: content.length, version: '3.6.0' })}\n`;
  }
  if (words[1] === 'restore') {
    const dataDir = flagValue(args, 'data-dir');
    const name = flagValue(args, 'name');
    const initialCluster = flagValue(args, 'initial-cluster') ?? '';
    const bump = Number(flagValue(args, 'bump-revision') ?? 0);
    // not recorded: the product does not read these outputs
    if (!dataDir || !name) fail(1, `fake etcdutl: restore needs --data-dir and --name: ${args.join(' ')}`);
    if (bump > 0 && !args.includes('--mark-compacted')) fail(1, 'Error: --mark-compacted required if --bump-revision > 0');
    if (!initialCluster.split(',').some((m) => m.startsWith(`${name}=`))) fail(1, `Error: couldn't find local name "${name}" in the initial cluster configuration`);
    if (exists(where(dataDir)) && fs.readdirSync(at(where(dataDir))).length) fail(1, `Error: data-dir "${dataDir}" not empty or could not be read`);
    const target = where(dataDir);
    fs.mkdirSync(at(`${target}/member/snap`), { recursive: true, mode: 0o700 });
    fs.mkdirSync(at(`${target}/member/wal`), { recursive: true, mode: 0o700 });
    fs.chmodSync(at(target), 0o700);
    const restored = { revision: snapshot.revision + bump, compacted: args.includes('--mark-compacted'), objects: snapshot.objects };
    write(`${target}/member/snap/db`, `${JSON.stringify({ fakeEtcd: 'bbolt database', member: name, initialCluster, restored, loaded: false })}\n`, 0o600);
    write(`${target}/member/wal/0000000000000000-0000000000000000.wal`, `fake write-ahead log of ${name}\n`, 0o600);
    // not recorded: etcdutl logs to stderr; the product does not read it
    throw new Exit(0, '', `restored snapshot ${file} into ${dataDir}`);
  }
  fail(1, `fake etcdutl: unsupported ${args.join(' ')}`);
}

/**
 * etcd started by the kubelet (its manifest back in the folder): on data restored from a snapshot, the cluster's
 * state is the snapshot's from now on, at the restored revision.
 */
function etcdStarted() {
  const dataDir = /- --data-dir=(\S+)/.exec(read(`${MANIFESTS}/etcd.yaml`, ''))?.[1] ?? '/var/lib/etcd';
  const db = `${dataDir}/member/snap/db`;
  let data;
  try { data = JSON.parse(read(db, '')); } catch { return; }
  if (!data.restored || data.loaded) return;
  fs.writeFileSync(clusterFile('applied.json'), JSON.stringify(data.restored.objects));
  fs.writeFileSync(clusterFile('etcd.json'), JSON.stringify({ revision: data.restored.revision, compacted: data.restored.compacted }));
  fs.appendFileSync(clusterFile('etcd.log'), `started on restored data at revision ${data.restored.revision}\n`);
  write(db, `${JSON.stringify({ ...data, loaded: true })}\n`, 0o600);
}

// ---- the node's own tools: coreutils, sh, crictl, ctr ------------------------------------

function mkdir(args) {
  const mode = args.includes('-m') ? Number.parseInt(args[args.indexOf('-m') + 1], 8) : undefined;
  const dir = args[args.length - 1];
  if (!args.includes('-p') && exists(dir)) fail(1, `mkdir: cannot create directory '${dir}': File exists`);
  fs.mkdirSync(at(dir), { recursive: true });
  if (mode !== undefined) fs.chmodSync(at(dir), mode);
  return '';
}

function mv(args) {
  const [src, dst] = args.filter((a) => !a.startsWith('-'));
  if (!fs.existsSync(at(src))) fail(1, `mv: cannot stat '${src}': No such file or directory`);
  const into = fs.existsSync(at(dst)) && fs.statSync(at(dst)).isDirectory() ? path.join(dst, path.basename(src)) : dst;
  if (!fs.existsSync(path.dirname(at(into)))) fail(1, `mv: cannot move '${src}' to '${dst}': No such file or directory`);
  fs.renameSync(at(src), at(into));
  // The kubelet watches its manifests folder: a static pod's manifest back there starts that pod.
  if (path.posix.normalize(into) === `${MANIFESTS}/etcd.yaml`) etcdStarted();
  return '';
}

function rm(args) {
  const flags = args.filter((a) => a.startsWith('-')).join('');
  const force = flags.includes('f');
  const recursive = /r|R/.test(flags);
  for (const file of args.filter((a) => !a.startsWith('-'))) {
    if (!fs.existsSync(at(file))) {
      if (!force) fail(1, `rm: cannot remove '${file}': No such file or directory`);
      continue;
    }
    if (fs.statSync(at(file)).isDirectory() && !recursive) fail(1, `rm: cannot remove '${file}': Is a directory`);
    remove(file);
  }
  return '';
}

function rmdir(args) {
  for (const dir of args.filter((a) => !a.startsWith('-'))) {
    if (!fs.existsSync(at(dir))) fail(1, `rmdir: failed to remove '${dir}': No such file or directory`);
    if (!fs.statSync(at(dir)).isDirectory()) fail(1, `rmdir: failed to remove '${dir}': Not a directory`);
    if (fs.readdirSync(at(dir)).length) fail(1, `rmdir: failed to remove '${dir}': Directory not empty`);
    fs.rmdirSync(at(dir));
  }
  return '';
}

/**
 * sh -c SCRIPT NAME ARGS...: the real shell runs the script, its arguments that are absolute paths taken in the
 * sandbox root (the script's commands are this folder's fakes, by PATH). A script naming a path itself is not emulated.
 */
function sh(args) {
  if (args[0] !== '-c' || /(^|[\s>'"=])\//.test(args[1])) fail(2, `fake sh: unsupported ${args.join(' ')}`);
  const result = require('node:child_process').spawnSync('/bin/sh', ['-c', args[1], ...args.slice(2, 3), ...args.slice(3).map((a) => (a.startsWith('/') ? at(a) : a))], { stdio: ['inherit', 'pipe', 'pipe'], env: process.env });
  if (result.status !== 0) throw new Exit(result.status ?? 1, result.stdout.toString(), result.stderr.toString());
  return result.stdout;
}

function base64(args) {
  if (args[0] === '-d') {
    const text = fs.readFileSync(0, 'utf8');
    // not recorded: the product does not read this output
    if (!/^[A-Za-z0-9+/=\s]*$/.test(text)) fail(1, 'base64: invalid input');
    return Buffer.from(text, 'base64');
  }
  const file = args.filter((a) => !a.startsWith('-'))[0];
  if (!fs.existsSync(at(file))) fail(1, `base64: ${file}: No such file or directory`);
  const encoded = fs.readFileSync(at(file)).toString('base64');
  return args.includes('-w0') ? encoded : `${encoded.replace(/(.{76})/g, '$1\n')}\n`;
}

function stat(args) {
  if (args[0] !== '-c' || args[1] !== '%s') fail(1, `fake stat: unsupported ${args.join(' ')}`);
  const file = args[2];
  if (!fs.existsSync(at(file))) fail(1, `stat: cannot statx '${file}': No such file or directory`);
  return `${fs.statSync(at(file)).size}\n`;
}

function sha256sum(args) {
  return args.map((file) => {
    if (!fs.existsSync(at(file))) fail(1, `sha256sum: ${file}: No such file or directory`);
    return `${crypto.createHash('sha256').update(fs.readFileSync(at(file))).digest('hex')}  ${file}\n`;
  }).join('');
}

/**
 * crictl ps -q --name REGEX: the IDs of the running containers of the control plane's static pods (one per manifest
 * in the kubelet's folder). .fake/stop-lag holds how many more listings still show the containers of manifests taken
 * out (the kubelet stops them within seconds).
 */
function crictl(args) {
  if (args[0] !== 'ps' || !args.includes('-q')) fail(1, `fake crictl: unsupported ${args.join(' ')}`);
  // not recorded: the product does not read this output
  if (json('services.json', {}).containerd?.active !== true) fail(1, 'time="2026-01-01T00:00:00Z" level=fatal msg="validate service connection: validate CRI v1 runtime API for endpoint \\"unix:///run/containerd/containerd.sock\\": rpc error: code = Unavailable desc = connection error"');
  const pattern = args.includes('--name') ? new RegExp(args[args.indexOf('--name') + 1]) : /.*/;
  const lag = Number(read('.fake/stop-lag', '0'));
  const stopping = CONTROL_PLANE_PODS.some((pod) => !exists(`${MANIFESTS}/${pod}.yaml`)) && lag > 0;
  if (stopping) write('.fake/stop-lag', String(lag - 1));
  const kubelet = json('services.json', {}).kubelet?.active === true;
  const running = CONTROL_PLANE_PODS.filter((pod) => exists(`${MANIFESTS}/${pod}.yaml`) ? kubelet : stopping && exists('/etc/kubernetes/admin.conf'));
  const id = (pod, manifest = '') => `${crypto.createHash('sha256').update(`${nodeName()}/${pod}${manifest}`).digest('hex')}\n`;
  // kube-vip, with its manifest: a changed manifest is a new container, as when the kubelet restarts it.
  const kubeVip = kubelet && exists(`${MANIFESTS}/kube-vip.yaml`) ? [id('kube-vip', read(`${MANIFESTS}/kube-vip.yaml`))] : [];
  return [...running.filter((pod) => pattern.test(pod)).map((pod) => id(pod)), ...(pattern.test('kube-vip') ? kubeVip : [])].join('');
}

/** ctr -n k8s.io images mount IMAGE DIR / images unmount --rm DIR: an image's filesystem at DIR, read only. */
function ctr(args) {
  const words = args.filter((a, i) => !a.startsWith('-') && args[i - 1] !== '-n');
  // not recorded: the product does not read this output
  if (json('services.json', {}).containerd?.active !== true) fail(1, 'ctr: failed to dial "/run/containerd/containerd.sock": context deadline exceeded');
  const mounts = json('mounts.json', {});
  if (words[0] === 'images' && words[1] === 'mount') {
    const [image, dir] = words.slice(2);
    if (!json('images.json', []).includes(image)) fail(1, `ctr: image "${image}": not found`);
    // not recorded: the product does not read this output
    if (!fs.existsSync(at(dir))) fail(1, `ctr: mount ${dir}: no such file or directory`);
    // The etcd image's programs; etcdutl runs from there (see sandbox.ts: a program named by an absolute path).
    for (const program of ['etcd', 'etcdctl', 'etcdutl']) {
      const file = `${dir}/usr/local/bin/${program}`;
      write(file, `#!/bin/sh\nexec "${process.execPath}" "${__filename}" "${file}" "$@"\n`, 0o755);
    }
    mounts[dir] = image;
    saveJson('mounts.json', mounts);
    // not recorded: the product does not read this output
    return `${dir}\n`;
  }
  if (words[0] === 'images' && words[1] === 'unmount') {
    const dir = words[2];
    // not recorded: the product does not read this output
    if (!mounts[dir]) fail(1, `ctr: failed to unmount ${dir}: invalid argument`);
    for (const entry of fs.readdirSync(at(dir))) remove(`${dir}/${entry}`);
    delete mounts[dir];
    saveJson('mounts.json', mounts);
    return `${dir}\n`;
  }
  fail(1, `fake ctr: unsupported ${args.join(' ')}`);
}

/** A program named by its absolute path: etcdutl from a mounted etcd image (ctr images mount). */
function absoluteProgram(file, args) {
  const mounted = Object.keys(json('mounts.json', {})).some((dir) => file.startsWith(`${dir}/`));
  if (!mounted || !exists(file)) fail(127, `sh: 1: ${file}: not found`);
  if (path.basename(file) === 'etcdutl') return etcdutl(args, (p) => p);
  fail(1, `fake ${file}: unsupported ${args.join(' ')}`);
}

// ---- dispatch -------------------------------------------------------------------

function ip(args) {
  const sub = args.filter((a) => !a.startsWith('-'));
  if (sub[0] === 'addr') {
    if (sub[1] === 'delete') {
      // .fake/vip: an address kube-vip announced (on eth0), e.g. 192.168.83.130/32.
      if (read('.fake/vip', '').trim() !== sub[2] || args[args.indexOf('dev') + 1] !== 'eth0') fail(2, 'RTNETLINK answers: Cannot assign requested address');
      remove('.fake/vip');
      return '';
    }
    const addresses = read('.fake/addresses', '').split('\n').filter(Boolean);
    const vip = read('.fake/vip', '').trim();
    return ['1: lo    inet 127.0.0.1/8 scope host lo', ...addresses.map((a, i) => `${i + 2}: eth${i}    inet ${a}/24 brd 0.0.0.0 scope global eth${i}`),
      ...(vip ? [`2: eth0    inet ${vip} scope global eth0`] : [])].join('\n') + '\n';
  }
  // .fake/default-route: what `ip -4 route show default` prints (empty: the node has none).
  if (sub[0] === 'route' && sub[1] === 'show') return read('.fake/default-route', 'default via 192.168.83.2 dev eth0 proto dhcp\n');
  if (sub[0] === 'link' && sub[1] === 'delete') { remove(`/sys/class/net/${sub[2]}`); return ''; }
  fail(1, `fake ip: unsupported ${args.join(' ')}`);
}

const COMMANDS = {
  id: (args) => (args[0] === '-u' ? `${process.env.FAKE_UID ?? '0'}\n` : fail(1, 'fake id: unsupported')),
  nproc: () => `${read('.fake/nproc', '2').trim()}\n`,
  ip,
  ss: () => read('.fake/listening', '').split('\n').filter(Boolean).map((p) => `LISTEN 0 4096 0.0.0.0:${p} 0.0.0.0:*`).join('\n') + '\n',
  hostnamectl: (args) => { write('/etc/hostname', `${args[1]}\n`); write('/proc/sys/kernel/hostname', `${args[1]}\n`); return ''; },
  swapoff,
  swapon,
  setenforce: (args) => { write('/sys/fs/selinux/enforce', args[0] === '0' ? '0' : '1'); return ''; },
  modprobe: (args) => { const loaded = read('/proc/modules', ''); if (!loaded.split('\n').some((l) => l.startsWith(`${args[0]} `))) write('/proc/modules', `${loaded}${args[0]} 16384 0 - Live 0x0\n`); write(`/sys/module/${args[0]}/refcnt`, '0\n'); return ''; },
  sysctl,
  'firewall-cmd': firewallCmd,
  ufw,
  systemctl,
  dnf,
  rpm,
  'apt-get': aptGet,
  'dpkg-query': dpkgQuery,
  'apt-mark': aptMark,
  mkdir,
  curl,
  kubectl,
  install: (args) => { const [src, dst] = args.slice(-2); write(dst, fs.readFileSync(at(src), 'utf8'), Number.parseInt(args[args.indexOf('-m') + 1], 8)); return ''; },
  kubeadm,
  'iptables-save': () => read('.fake/iptables', ''),
  'iptables-restore': () => { write('.fake/iptables', fs.readFileSync(0, 'utf8')); return ''; },
  'ip6tables-save': () => read('.fake/ip6tables', ''),
  'ip6tables-restore': () => { write('.fake/ip6tables', fs.readFileSync(0, 'utf8')); return ''; },
  ipvsadm: () => fail(127, 'ipvsadm: command not found'),
  containerd: (args) => {
    const installed = Object.keys(CONTAINERD_VERSION).find((name) => packages()[name]);
    if (!installed) fail(127, 'containerd: command not found');
    if (args[0] !== '--version') fail(1, `fake containerd: unsupported ${args.join(' ')}`);
    return `${CONTAINERD_VERSION[installed](packages()[installed])}\n`;
  },
  // As the real one answers: the container's name and exit 0 inside one, `none` and exit 1 on a VM or bare metal.
  'systemd-detect-virt': (args) => {
    if (args[0] !== '--container') fail(1, `fake systemd-detect-virt: unsupported ${args.join(' ')}`);
    const name = read('.fake/container', '').trim();
    if (!name) throw new Exit(1, 'none\n');
    return `${name}\n`;
  },
  dpkg: (args) => (args[0] === '--print-architecture' ? 'amd64\n' : fail(1, `fake dpkg: unsupported ${args.join(' ')}`)),
  // SELinux: records which files got their default label back (the real one needs policycoreutils).
  mv,
  rm,
  rmdir,
  sh,
  base64,
  stat,
  sha256sum,
  crictl,
  ctr,
  restorecon: (args) => { const done = json('restorecon.json', []); done.push(...args.filter((a) => !a.startsWith('-'))); saveJson('restorecon.json', done); return ''; },
};

function main() {
  let [name, ...args] = process.argv.slice(2);
  if (name === 'env') {
    while (args[0] && /^[A-Z_]+=/.test(args[0])) args.shift();
    [name, ...args] = args;
  }
  fs.mkdirSync(state(''), { recursive: true });
  fs.appendFileSync(state('commands.log'), `${JSON.stringify([name, ...args])}\n`);
  const failing = read('.fake/fail', '').split('\n').filter(Boolean);
  const line = [name, ...args].join(' ');
  const injected = failing.find((prefix) => line.startsWith(prefix));
  // Delay injection: a line `<seconds> <command prefix>` in .fake/slow makes that command take so long (a slow mirror, say).
  for (const entry of read('.fake/slow', '').split('\n').filter(Boolean)) {
    const [, seconds, prefix] = /^(\S+) (.*)$/.exec(entry);
    if (line.startsWith(prefix)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(seconds) * 1000);
  }
  try {
    if (injected) fail(1, `injected failure for the test: ${line}\nE: something went wrong (token abcdef.0123456789abcdef)`);
    const run = name.startsWith('/') ? (a) => absoluteProgram(name, a) : COMMANDS[name];
    if (!run) fail(127, `fake: ${name}: command not emulated`);
    process.stdout.write(run(args) ?? '');
    process.exitCode = 0;
  } catch (error) {
    if (!(error instanceof Exit)) throw error;
    process.stdout.write(error.stdout);
    if (error.stderr) process.stderr.write(error.stderr.endsWith('\n') ? error.stderr : `${error.stderr}\n`);
    process.exitCode = error.code;
  }
}

main();
