#!/usr/bin/env node
// hosts/reset.mjs: see --help. The logic lives in hosts/*.ts, loaded through tsx.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);
const { runNodeScript } = require('./cli.ts');
const { resetScript } = require('./scripts.ts');

await runNodeScript(resetScript);
