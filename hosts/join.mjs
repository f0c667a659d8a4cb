#!/usr/bin/env node
// hosts/join.mjs: see --help. The script is hosts/node/join.ts, loaded through tsx.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('./engine/node-version.cjs').requireSupportedNode();
require('tsx/cjs/api').register();

await require('./node/join.ts').main();
