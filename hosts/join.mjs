#!/usr/bin/env node
// hosts/join.mjs: see --help. The script is hosts/node/join.ts, loaded through tsx.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);

await require('./node/join.ts').main();
