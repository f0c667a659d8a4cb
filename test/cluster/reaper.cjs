#!/usr/bin/env node
/**
 * Ends what the real-cluster test started in the host's kernel and that no
 * signal of the kernel ends by itself: the node containers (their systemd
 * outlives a killed systemd-nspawn), their overlay mounts and their cgroups.
 *
 * Run by the test with a pipe on stdin: when the pipe closes (the test ended,
 * however it ended: even kill -9), it cleans up. `--now` cleans up at once:
 * the test calls it first, for what an earlier run left behind.
 *
 * Usage: node reaper.cjs [--now] <state file>
 * The state file (JSON, written by containers.ts before each start): the
 * cgroup folders and the overlay mount points of the run's nodes.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** Every process in a cgroup folder and the folders below it. */
function processes(dir) {
  const found = [];
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    try {
      found.push(...fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
    } catch {
      // gone meanwhile
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  walk(dir);
  return found;
}

/** Removes a cgroup folder: its children first (a cgroup folder holds only control files). */
function removeCgroup(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeCgroup(path.join(dir, e.name));
  try {
    fs.rmdirSync(dir);
  } catch {
    // still busy: the next run tries again
  }
}

function cleanUp(stateFile) {
  let state;
  try {
    state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  } catch {
    return;
  }
  for (let round = 0; round < 50; round++) {
    const pids = [...new Set(state.cgroups.flatMap(processes))];
    if (!pids.length) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
  for (const mount of state.mounts) {
    try {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    } catch {
      // not mounted
    }
  }
  for (const dir of state.cgroups) removeCgroup(dir);
}

const args = process.argv.slice(2);
const now = args[0] === '--now';
const stateFile = now ? args[1] : args[0];
if (!stateFile) {
  process.stderr.write('usage: reaper.cjs [--now] <state file>\n');
  process.exit(2);
}
if (now) {
  cleanUp(stateFile);
} else {
  const finish = () => {
    cleanUp(stateFile);
    process.exit(0);
  };
  process.stdin.resume();
  process.stdin.on('end', finish);
  process.stdin.on('close', finish);
  process.stdin.on('error', finish);
  // A TERM, HUP or INT sent to the test's process group: clean up as well.
  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT']) process.on(signal, finish);
}
