#!/usr/bin/env node
// scripts/bootstrap.mjs: bare VMs to a working Ingress (see --help). The logic lives in hosts/cluster/, loaded through tsx.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('../hosts/engine/node-version.cjs').requireSupportedNode();
require('tsx/cjs/api').register();
const { runBootstrap } = require('../hosts/cluster/cli.ts');

await runBootstrap();
