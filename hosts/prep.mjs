#!/usr/bin/env node
// hosts/prep.mjs: see --help. The script is hosts/node/prep.ts, loaded through tsx.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('./engine/node-version.cjs').requireSupportedNode();
require('tsx/cjs/api').register();

await require('./node/prep.ts').main();
