#!/usr/bin/env node
/**
 * One connection from a VM to a port on this machine's loopback. qemu starts
 * it per connection (`guestfwd=tcp:<addr>:<port>-cmd:node relay.cjs <port>`)
 * with the guest's connection on stdin/stdout; the VM has no other way out
 * (restrict=on).
 *
 * Usage: node relay.cjs <port on 127.0.0.1>
 */
const net = require('node:net');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: relay.cjs <port>\n');
  process.exit(2);
}
const upstream = net.connect(port, '127.0.0.1');
process.stdin.pipe(upstream);
upstream.pipe(process.stdout);
// Either side going away ends the relay; a clean close ends it by itself once both directions are done.
upstream.on('error', () => process.exit(1));
process.stdin.on('error', () => process.exit(0));
process.stdout.on('error', () => process.exit(0));
