/**
 * `npm run import:gateway-api`: fetches the Gateway API's standard-channel
 * CRDs (config/crd/standard of sigs.k8s.io/gateway-api at the version
 * charts/gateway-api.ts names) from the Go module proxy into imports/, where
 * the gateway-api chart includes them and `npm run import` makes the typed
 * Gateway, GatewayClass and HTTPRoute classes from them (cdk8s.yaml).
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { GATEWAY_API_DIR, GATEWAY_API_MODULE, GATEWAY_API_VERSION } from '../charts/gateway-api';
import { download } from './kube-build/build';

const module = download(GATEWAY_API_MODULE, GATEWAY_API_VERSION);
const source = path.join(module.Dir, 'config', 'crd', 'standard');
const files = readdirSync(source).filter((f) => f.endsWith('.yaml')).sort();
rmSync(GATEWAY_API_DIR, { recursive: true, force: true });
mkdirSync(GATEWAY_API_DIR, { recursive: true });
for (const file of files) copyFileSync(path.join(source, file), path.join(GATEWAY_API_DIR, file));
console.log(`${GATEWAY_API_MODULE} ${GATEWAY_API_VERSION}: ${files.length} files of config/crd/standard -> ${path.relative(process.cwd(), GATEWAY_API_DIR)}/`);
