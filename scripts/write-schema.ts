/** `npm run schema`: regenerates config/cluster.schema.json from config/schema.ts. */
import { writeFileSync } from 'node:fs';
import { clusterJsonSchema, JSON_SCHEMA_FILE } from '../config/json-schema';

writeFileSync(JSON_SCHEMA_FILE, clusterJsonSchema());
console.log(`wrote ${JSON_SCHEMA_FILE}`);
