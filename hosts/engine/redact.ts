/**
 * Secrets never reach output or logs: every line the node scripts print or
 * log goes through redact(). Bootstrap tokens keep their public id (the part
 * before the dot, also shown by `kubeadm token list`); certificate keys and
 * private keys are replaced whole.
 */
const BOOTSTRAP_TOKEN = /\b([a-z0-9]{6})\.[a-z0-9]{16}\b/g;
const CERTIFICATE_KEY = /(certificate[-_ ]?key["']?\s*[:=]?\s*["']?)[0-9a-f]{64}\b/gi;
const PRIVATE_KEY = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;
const CLIENT_KEY_DATA = /(client-key-data:\s*)\S+/g;

export function redact(text: string): string {
  return text
    .replace(PRIVATE_KEY, '[private key redacted]')
    .replace(CLIENT_KEY_DATA, '$1[redacted]')
    .replace(CERTIFICATE_KEY, '$1[redacted]')
    .replace(BOOTSTRAP_TOKEN, '$1.****************');
}
