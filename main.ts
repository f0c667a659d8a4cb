/**
 * `npm run synth` (and `cdk8s synth`): cluster.yaml -> dist/.
 * Config from --config FILE, else $CLUSTER_CONFIG, else ./cluster.yaml, else the repository's cluster.yaml;
 * output to $CDK8S_OUTDIR (set by cdk8s synth), else dist/.
 */
// Before anything else: an older Node.js gets one line saying so (package.json's engines).
require('./hosts/engine/node-version.cjs').requireSupportedNode();
import * as path from 'node:path';
import { DEFAULT_OUTDIR, synthesize } from './charts/app';
import { loadClusterConfig, resolveConfigPath } from './config/load';
import { configWarnings } from './config/schema';
import { parseFlags, runCommand } from './hosts/engine/command-line';

const HELP = `Usage: npm run synth [-- --config FILE]

Writes the manifests for the cluster described in cluster.yaml to dist/.
  --config FILE  cluster config to read (default: $CLUSTER_CONFIG, else ./cluster.yaml, else the repository's)
  --help         show this help`;

void runCommand(() => {
  const flags = parseFlags(process.argv.slice(2), { config: { type: 'string', valueName: 'FILE' }, help: { type: 'boolean' } });
  if (flags.help) return console.log(HELP);
  const config = loadClusterConfig(resolveConfigPath(flags.config));
  for (const warning of configWarnings(config)) console.error(warning);
  const outdir = process.env.CDK8S_OUTDIR ?? DEFAULT_OUTDIR;
  synthesize(config, outdir);
  // npm runs the script in the repository; said from the folder the user ran npm in (../dist/ from a subfolder, say).
  const userDir = process.env.INIT_CWD ?? process.cwd();
  const shown = path.relative(userDir, path.resolve(outdir)) || '.';
  console.log(`wrote ${shown}/ for ${config.nodes.length} node(s), Kubernetes ${config.kubernetes.version}`);
});
