/**
 * test/vm/tomcat.ts: the Apache Tomcat 6.0.53 of the VM test's
 * tomcat:6.0.53-jre8 image, assembled from Maven Central's jars into a
 * temporary folder and started here, on this machine's java, as the image
 * will start it (bin/run.sh). The jars are kept in $VM_CACHE/tomcat-6.0.53,
 * like the VM test's other downloads, so only the first run needs the
 * network; the cache and SHA-1 checks are tested offline, with a fetch that
 * serves those cached jars and counts its requests.
 *
 * Needs java on PATH (Debian's openjdk-17-jre-headless), and Maven Central
 * when the cache is not filled yet: without them the suite is skipped, visibly.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { missingPrerequisite } from './prerequisites';
import { CACHE, spawnTracked } from './vm/machine';
import { artifactUrl, assembleTomcat, TOMCAT_ARTIFACTS, TOMCAT_VERSION, type TomcatOptions } from './vm/tomcat';

const SHARED_CACHE = path.join(CACHE, `tomcat-${TOMCAT_VERSION}`);
const JAR_NAMES = Object.keys(TOMCAT_ARTIFACTS).map((artifact) => `${artifact}-${TOMCAT_VERSION}.jar`);
const START_TIMEOUT_MS = 60_000;

const sha1 = (data: Uint8Array) => createHash('sha1').update(data).digest('hex');

function cacheIsFilled(): boolean {
  return Object.entries(TOMCAT_ARTIFACTS).every(([artifact, expected]) => {
    const jar = path.join(SHARED_CACHE, `${artifact}-${TOMCAT_VERSION}.jar`);
    return existsSync(jar) && sha1(readFileSync(jar)) === expected;
  });
}

/** Why Maven Central cannot be reached, or undefined when it can (checked synchronously, while jest collects the tests). */
function mavenCentralUnreachable(): string | undefined {
  const probe = `fetch(${JSON.stringify(`${artifactUrl('juli')}.sha1`)}, { signal: AbortSignal.timeout(20000) })
    .then((r) => { if (!r.ok) { console.error('HTTP ' + r.status); process.exit(1); } }, (e) => { console.error(e.cause?.message ?? e.message); process.exit(1); })`;
  const result = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 30_000 });
  return result.status === 0 ? undefined : result.stderr.trim() || result.error?.message || 'no answer';
}

function javaMissing(): string | undefined {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  return result.error ? result.error.message : result.status !== 0 ? result.stderr.trim() : undefined;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type Fetch = NonNullable<TomcatOptions['fetch']>;

/** A fetch that answers Maven Central's URLs of the jars from `files` (URL -> bytes) and records every request. */
function servedFrom(files: Map<string, Uint8Array>, requests: string[]): Fetch {
  return async (url: string) => {
    requests.push(url);
    const body = files.get(url);
    return body ? new Response(body) : new Response('not found', { status: 404, statusText: 'Not Found' });
  };
}

/** Maven Central's answers, from the jars of the shared cache: each jar (changed by `change`, as if in transit), and its real .sha1. */
function mavenFromCache(change: (artifact: string, jar: Buffer) => Buffer = (_artifact, jar) => jar): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const artifact of Object.keys(TOMCAT_ARTIFACTS)) {
    const original = readFileSync(path.join(SHARED_CACHE, `${artifact}-${TOMCAT_VERSION}.jar`));
    const jar = change(artifact, original);
    files.set(artifactUrl(artifact), jar);
    files.set(`${artifactUrl(artifact)}.sha1`, Buffer.from(sha1(original)));
  }
  return files;
}

const corrupt = (jar: Buffer) => {
  const copy = Buffer.from(jar);
  copy[copy.length >> 1] ^= 0xff;
  return copy;
};

function mtimes(dir: string): Record<string, number> {
  return Object.fromEntries(readdirSync(dir).sort().map((file) => [file, statSync(path.join(dir, file)).mtimeMs]));
}

describe(`Apache Tomcat ${TOMCAT_VERSION} from Maven Central (test/vm/tomcat.ts)`, () => {
  const noJava = javaMissing();
  if (noJava) {
    missingPrerequisite(`Tomcat ${TOMCAT_VERSION}`, `needs java on PATH, e.g. Debian's openjdk-17-jre-headless (${noJava})`);
    return;
  }
  const offline = cacheIsFilled() ? undefined : mavenCentralUnreachable();
  if (offline) {
    missingPrerequisite(`Tomcat ${TOMCAT_VERSION}`, `needs Maven Central (repo1.maven.org) to fill ${SHARED_CACHE}: ${offline}`, { installable: false });
    return;
  }

  const work = mkdtempSync(path.join(tmpdir(), 'tomcat-'));
  const home = path.join(work, 'usr', 'local', 'tomcat');
  let port: number;
  let command: string[];
  let tomcat: ChildProcess | undefined;
  let output = '';
  let exited: Promise<number | null>;

  beforeAll(async () => {
    port = await freePort();
    ({ command } = await assembleTomcat({ home, cache: SHARED_CACHE, port }));
    const started = Date.now();
    tomcat = spawnTracked(command[0]!, command.slice(1), { env: { ...process.env, JAVA_OPTS: '', CATALINA_OPTS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    tomcat.stdout!.on('data', (chunk) => { output += chunk; });
    tomcat.stderr!.on('data', (chunk) => { output += chunk; });
    exited = new Promise((resolve) => tomcat!.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
    let gone = false;
    void exited.then(() => { gone = true; });
    for (;;) {
      if (gone) throw new Error(`Tomcat exited before it answered:\n${output}`);
      if (Date.now() - started > START_TIMEOUT_MS) throw new Error(`Tomcat did not answer on port ${port} within ${START_TIMEOUT_MS / 1000} s:\n${output}`);
      try {
        const answer = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) });
        await answer.arrayBuffer();
        if (answer.status === 200) break;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    console.log(`Tomcat ${TOMCAT_VERSION} answered ${((Date.now() - started) / 1000).toFixed(1)} s after it was started (${command.join(' ')})`);
  }, 120_000 + START_TIMEOUT_MS);

  afterAll(async () => {
    if (tomcat && tomcat.exitCode === null && tomcat.signalCode === null) {
      tomcat.kill('SIGKILL');
      await exited;
    }
  });

  test('GET / is the ROOT page, served by Tomcat 6.0.53\'s default servlet', async () => {
    const answer = await fetch(`http://127.0.0.1:${port}/`);
    const body = await answer.text();
    expect(answer.status).toBe(200);
    expect(answer.headers.get('server')).toBe('Apache-Coyote/1.1');
    expect(answer.headers.get('content-type')).toMatch(/^text\/html\b/);
    expect(body).toContain(`<title>Apache Tomcat/${TOMCAT_VERSION}</title>`);
    expect(body).toContain("If you're seeing this page via a web browser, it means you've setup Tomcat successfully. Congratulations!");
    expect(output).toContain(`Starting Servlet Engine: Apache Tomcat/${TOMCAT_VERSION}`);
  });

  test('GET /nope is Tomcat\'s own 404 page', async () => {
    const answer = await fetch(`http://127.0.0.1:${port}/nope`);
    const body = await answer.text();
    expect(answer.status).toBe(404);
    expect(answer.headers.get('server')).toBe('Apache-Coyote/1.1');
    // Tomcat's ErrorReportValve, which signs its pages with the server's version.
    expect(body).toContain(`<h3>Apache Tomcat/${TOMCAT_VERSION}</h3>`);
  });

  test('the tree: the jars, bin/run.sh (755, no path of this machine in it), the configuration, writable folders', () => {
    expect(command).toEqual(['/bin/sh', path.join(home, 'bin', 'run.sh')]);
    expect(readdirSync(path.join(home, 'lib')).sort()).toEqual([...JAR_NAMES].sort());
    const run = path.join(home, 'bin', 'run.sh');
    expect(statSync(run).mode & 0o777).toBe(0o755);
    const script = readFileSync(run, 'utf8');
    expect(script).not.toContain(work);
    expect(script).toMatch(/^#!\/bin\/sh\n/);
    expect(script).toMatch(/ \$JAVA_OPTS \$CATALINA_OPTS .*org\.apache\.catalina\.startup\.Bootstrap start\n$/s);
    expect(spawnSync('sh', ['-n', run]).status).toBe(0);
    const server = readFileSync(path.join(home, 'conf', 'server.xml'), 'utf8');
    expect(server).toContain('<Server port="-1"');
    expect(server).toContain(`<Connector port="${port}" protocol="HTTP/1.1"`);
    for (const dir of ['logs', 'temp', 'work']) expect(statSync(path.join(home, dir)).isDirectory()).toBe(true);
  });

  test('inside the image: the command names the in-image path, the tree is the same', async () => {
    const root = path.join(work, 'image');
    const requests: string[] = [];
    const result = await assembleTomcat({ home: path.join(root, 'usr/local/tomcat'), installedAt: '/usr/local/tomcat', cache: SHARED_CACHE, fetch: servedFrom(new Map(), requests) });
    expect(result.command).toEqual(['/bin/sh', '/usr/local/tomcat/bin/run.sh']);
    expect(readFileSync(path.join(root, 'usr/local/tomcat/bin/run.sh'), 'utf8')).toBe(readFileSync(path.join(home, 'bin', 'run.sh'), 'utf8'));
    expect(readFileSync(path.join(root, 'usr/local/tomcat/conf/server.xml'), 'utf8')).toContain('<Connector port="8080" protocol="HTTP/1.1"');
    expect(requests).toEqual([]);
  });

  test('a second assembly takes every jar from the cache: no request, the cache untouched', async () => {
    const cache = path.join(work, 'cache-copy');
    cpSync(SHARED_CACHE, cache, { recursive: true, preserveTimestamps: true });
    const before = mtimes(cache);
    const requests: string[] = [];
    const result = await assembleTomcat({ home: path.join(work, 'second'), cache, port, fetch: servedFrom(mavenFromCache(), requests) });
    expect(requests).toEqual([]);
    expect(result).toMatchObject({ downloaded: [], replaced: [] });
    expect(mtimes(cache)).toEqual(before);
  });

  test('an empty cache is filled from Maven Central: each jar and its .sha1, once', async () => {
    const cache = path.join(work, 'cache-empty');
    const requests: string[] = [];
    const result = await assembleTomcat({ home: path.join(work, 'filled'), cache, fetch: servedFrom(mavenFromCache(), requests) });
    expect(result.downloaded).toEqual(Object.keys(TOMCAT_ARTIFACTS));
    expect([...requests].sort()).toEqual(Object.keys(TOMCAT_ARTIFACTS).flatMap((a) => [artifactUrl(a), `${artifactUrl(a)}.sha1`]).sort());
    expect(readdirSync(cache).sort()).toEqual([...JAR_NAMES].sort());
  });

  test('a corrupted jar in the cache is thrown away and downloaded again', async () => {
    const cache = path.join(work, 'cache-corrupted');
    cpSync(SHARED_CACHE, cache, { recursive: true });
    const jar = path.join(cache, `coyote-${TOMCAT_VERSION}.jar`);
    writeFileSync(jar, corrupt(readFileSync(jar)));
    const requests: string[] = [];
    const result = await assembleTomcat({ home: path.join(work, 'repaired'), cache, fetch: servedFrom(mavenFromCache(), requests) });
    expect(result).toMatchObject({ downloaded: ['coyote'], replaced: ['coyote'] });
    expect(requests.sort()).toEqual([artifactUrl('coyote'), `${artifactUrl('coyote')}.sha1`]);
    expect(sha1(readFileSync(jar))).toBe(TOMCAT_ARTIFACTS.coyote);
    expect(sha1(readFileSync(path.join(work, 'repaired', 'lib', `coyote-${TOMCAT_VERSION}.jar`)))).toBe(TOMCAT_ARTIFACTS.coyote);
  });

  test('a download that does not match its .sha1 is refused, and not cached', async () => {
    const cache = path.join(work, 'cache-refused');
    // catalina's jar corrupted in transit; its .sha1 is the real one
    const maven = mavenFromCache((artifact, jar) => (artifact === 'catalina' ? corrupt(jar) : jar));
    await expect(assembleTomcat({ home: path.join(work, 'refused'), cache, fetch: servedFrom(maven, []) }))
      .rejects.toThrow(new RegExp(`^tomcat: catalina-${TOMCAT_VERSION}\\.jar from ${artifactUrl('catalina').replaceAll('.', '\\.')} has SHA-1 [0-9a-f]{40}, but .*\\.jar\\.sha1 says ${TOMCAT_ARTIFACTS.catalina}: refused$`));
    expect(readdirSync(cache)).toEqual([]);
  });

  test('a download that matches its .sha1 but not Tomcat 6.0.53\'s jar is refused too', async () => {
    // a different juli jar, with a .sha1 that matches it
    const maven = mavenFromCache((artifact, jar) => (artifact === 'juli' ? corrupt(jar) : jar));
    maven.set(`${artifactUrl('juli')}.sha1`, Buffer.from(`${sha1(maven.get(artifactUrl('juli'))!)}  juli-${TOMCAT_VERSION}.jar\n`));
    await expect(assembleTomcat({ home: path.join(work, 'refused-2'), cache: path.join(work, 'cache-refused-2'), fetch: servedFrom(maven, []) }))
      .rejects.toThrow(`but Tomcat ${TOMCAT_VERSION}'s is ${TOMCAT_ARTIFACTS.juli}: refused`);
  });

  test('a jar Maven Central does not have fails with its URL and status', async () => {
    const maven = mavenFromCache();
    maven.delete(artifactUrl('servlet-api'));
    await expect(assembleTomcat({ home: path.join(work, 'missing'), cache: path.join(work, 'cache-missing'), fetch: servedFrom(maven, []) }))
      .rejects.toThrow(`tomcat: cannot download ${artifactUrl('servlet-api')}: HTTP 404 Not Found`);
  });

  test('SIGTERM stops it cleanly: no reflective-access error from Java 17, nothing above INFO', async () => {
    tomcat!.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise((resolve) => { timer = setTimeout(() => resolve('still running'), 20_000); })]);
    clearTimeout(timer);
    expect(code).toBe(143);
    expect(output).toContain('Stopping Coyote HTTP/1.1');
    expect(output).not.toMatch(/InaccessibleObjectException|--add-opens|--add-exports/);
    expect(output.split('\n').filter((line) => /^\S+ \S+ (WARNING|SEVERE) /.test(line))).toEqual([]);
  }, 30_000);
});
