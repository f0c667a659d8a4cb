#!/usr/bin/env node
// hosts/reset.mjs: see --help. The script is hosts/node/reset.ts, loaded through tsx.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('./engine/node-version.cjs').requireSupportedNode();
require('tsx/cjs/api').register();

await require('./node/reset.ts').main();
