/**
 * The JSON Schema of cluster.yaml for editors (config/cluster.schema.json),
 * generated from the zod schema so the two cannot disagree. Checks that span
 * several fields (overlapping networks, duplicate nodes) exist only in zod.
 */
import { z } from 'zod';
import { clusterConfigSchema } from './schema';

export const JSON_SCHEMA_FILE = 'config/cluster.schema.json';

export function clusterJsonSchema(): string {
  const schema = z.toJSONSchema(clusterConfigSchema, { io: 'input', unrepresentable: 'any' });
  const document = {
    ...schema,
    $id: 'cluster.schema.json',
    title: 'cluster.yaml',
    description: 'One kubeadm cluster: its nodes, networks, images, ingress controller and the tomcat6 app. See README.md.',
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
