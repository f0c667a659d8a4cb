/**
 * The VMs' only way to the internet: an HTTP proxy on this machine's loopback
 * (reached from a VM through a guestfwd address, see machine.ts) that lets
 * through requests for Debian's archive and refuses, and records, anything
 * else. apt on the VMs is pointed at it; with restrict=on user-mode
 * networking nothing else leaves a VM.
 */
import { request, createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export const DEBIAN_HOSTS = ['deb.debian.org', 'security.debian.org'];

export interface Egress {
  port: number;
  /** host -> requests let through */
  passed: Map<string, number>;
  /** "METHOD url" of every request refused */
  refused: string[];
  stop(): Promise<void>;
}

export async function startEgress(allowed: string[] = DEBIAN_HOSTS): Promise<Egress> {
  const passed = new Map<string, number>();
  const refused: string[] = [];
  const server = createServer((incoming: IncomingMessage, response: ServerResponse) => {
    let url: URL | undefined;
    try {
      url = new URL(incoming.url ?? '');
    } catch {
      url = undefined;
    }
    const method = incoming.method ?? 'GET';
    if (!url || url.protocol !== 'http:' || !allowed.includes(url.hostname) || !['GET', 'HEAD'].includes(method)) {
      refused.push(`${method} ${incoming.url}`);
      response.writeHead(403).end('refused by the VM test\'s egress proxy\n');
      return;
    }
    passed.set(url.hostname, (passed.get(url.hostname) ?? 0) + 1);
    const { 'proxy-connection': _hop, ...rest } = incoming.headers as Record<string, string | string[] | undefined>;
    const headers = { ...rest, host: url.host };
    const upstream = request(url, { method, headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', (error) => {
      if (!response.headersSent) response.writeHead(502);
      response.end(`${error.message}\n`);
    });
    upstream.end();
  });
  // CONNECT (https through the proxy) is not let through: apt uses http with signed indexes.
  server.on('connect', (incoming: IncomingMessage, socket) => {
    refused.push(`CONNECT ${incoming.url}`);
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    passed,
    refused,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
