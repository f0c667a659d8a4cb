#!/usr/bin/env node
// hosts/reset.mjs: see --help. The script is hosts/node/reset.ts, loaded through tsx.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);

await require('./node/reset.ts').main();
