#!/usr/bin/env node
/**
 * The VM test's private network: a small learning Ethernet switch over one
 * unix socket, for qemu's `-netdev stream,addr.type=unix` NICs. Each qemu
 * connects as a client and sends frames as a 4-byte big-endian length and
 * the frame. A frame goes to the port its destination MAC was last seen on,
 * or to every other port when that is not known (broadcast, multicast,
 * unknown). Nothing here touches a real interface: the network exists only
 * between the VMs connected to this socket.
 *
 * Usage: node switch.cjs <socket path>   (runs until killed)
 */
const net = require('node:net');
const fs = require('node:fs');

const socketPath = process.argv[2];
if (!socketPath) {
  process.stderr.write('usage: switch.cjs <socket path>\n');
  process.exit(2);
}

/** MAC (hex) -> the port it was last seen on. */
const table = new Map();
const ports = new Set();

function forward(from, frame) {
  if (frame.length < 14) return;
  const source = frame.subarray(6, 12).toString('hex');
  const destination = frame.subarray(0, 6).toString('hex');
  table.set(source, from);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(frame.length);
  const known = (frame[0] & 1) === 0 ? table.get(destination) : undefined;
  const targets = known && ports.has(known) ? [known] : [...ports];
  for (const port of targets) {
    if (port !== from && !port.destroyed) port.write(Buffer.concat([header, frame]));
  }
}

fs.rmSync(socketPath, { force: true });
const server = net.createServer((port) => {
  ports.add(port);
  let pending = Buffer.alloc(0);
  port.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (pending.length < 4 + length) break;
      forward(port, pending.subarray(4, 4 + length));
      pending = pending.subarray(4 + length);
    }
  });
  const forget = () => {
    ports.delete(port);
    for (const [mac, seen] of table) if (seen === port) table.delete(mac);
  };
  port.on('close', forget);
  port.on('error', forget);
});
server.listen(socketPath, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
