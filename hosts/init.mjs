#!/usr/bin/env node
// hosts/init.mjs: see --help. The script is hosts/node/init.ts, loaded through tsx.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);

await require('./node/init.ts').main();
