#!/usr/bin/env node
// hosts/prep.mjs: see --help. The script is hosts/node/prep.ts, loaded through tsx.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);

await require('./node/prep.ts').main();
