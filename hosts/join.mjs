#!/usr/bin/env node
// hosts/join.mjs: see --help. The logic lives in hosts/*.ts, loaded through tsx.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);
const { runNodeScript } = require('./cli.ts');
const { joinScript } = require('./scripts.ts');

await runNodeScript(joinScript);
