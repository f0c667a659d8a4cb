#!/usr/bin/env node
// scripts/bootstrap.mjs: bare VMs to a working Ingress (see --help). The logic lives in hosts/cluster/, loaded through tsx.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);
const { runBootstrap } = require('../hosts/cluster/cli.ts');

await runBootstrap();
