#!/usr/bin/env node
/**
 * Runs inside the test's network namespace (started with nsenter) and lets
 * the node containers reach the test's servers on this machine's loopback,
 * which that namespace cannot see: each listen address there is piped to a
 * unix socket that the test serves (unix sockets cross network namespaces;
 * the test connects each to its server on 127.0.0.1).
 *
 * Usage: node netns-relay.cjs <address>:<port>=<unix socket> ...
 * It prints "listening" once every address listens.
 */
const net = require('node:net');

/** Pipes a connection both ways to `upstream`; either side's error or end ends both. (containers.ts uses it too.) */
function splice(client, upstream) {
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
}

function main() {
  const routes = process.argv.slice(2).map((arg) => {
    const match = /^([\d.]+):(\d+)=(.+)$/.exec(arg);
    if (!match) {
      process.stderr.write(`netns-relay: not <address>:<port>=<unix socket>: ${arg}\n`);
      process.exit(2);
    }
    return { host: match[1], port: Number(match[2]), socket: match[3] };
  });

  let listening = 0;
  for (const route of routes) {
    const server = net.createServer((client) => splice(client, net.connect(route.socket)));
    server.on('error', (error) => {
      process.stderr.write(`netns-relay: ${route.host}:${route.port}: ${error.message}\n`);
      process.exit(1);
    });
    server.listen(route.port, route.host, () => {
      listening += 1;
      if (listening === routes.length) process.stdout.write('listening\n');
    });
  }
}

if (require.main === module) main();
module.exports = { splice };
