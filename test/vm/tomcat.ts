/**
 * A real Apache Tomcat 6.0.53, assembled from its jars on Maven Central, to be
 * the tomcat:6.0.53-jre8 image of the VM test (the image's root file system is
 * built elsewhere: this module only lays out CATALINA_HOME and says how to
 * start it).
 *
 * Why: the cluster's app is the upstream tomcat:6.0.53-jre8 image, which is
 * not reachable from these machines. Maven Central is, and it publishes
 * Tomcat 6.0.53's own jars (org.apache.tomcat:catalina, coyote, juli,
 * servlet-api, annotations-api): the server that answers is Tomcat 6.0.53's
 * own code, unchanged. What differs from the image: it runs on Debian's
 * Java 17 rather than Java 8 (so the JVM is given a few --add-opens for
 * Tomcat 6's reflection into the JDK, see JAVA_17_OPTIONS), there is no
 * Jasper (no JSP), and the configuration (conf/) and the ROOT page are this
 * project's own, small ones: one HTTP/1.1 connector, the default servlet, and
 * an index.html whose title is "Apache Tomcat/6.0.53" like the stock page's.
 *
 * The layout, under `home` (CATALINA_HOME = CATALINA_BASE):
 *
 *   bin/run.sh              starts Tomcat in the foreground (the image's entrypoint);
 *                           paths are relative to its own location, so the same tree
 *                           runs where it was assembled and inside the image
 *   lib/*.jar               the five jars (org.apache.catalina.startup.Bootstrap is in
 *                           catalina.jar: Maven does not publish Tomcat 6's bootstrap.jar)
 *   conf/server.xml         shutdown port -1, one connector on `port`, Engine Catalina, Host localhost
 *   conf/web.xml            the default servlet on /, welcome file index.html, mime types
 *   conf/catalina.properties  common.loader empty: every class from the -classpath lib/*
 *   conf/logging.properties console only
 *   webapps/ROOT/index.html
 *   logs/ temp/ work/       writable
 *
 * Every jar is checked against the SHA-1 pinned below and against the .sha1
 * file Maven Central publishes next to it. Downloaded jars are kept in
 * `cache`, so a second assembly makes no network request; a cached jar whose
 * SHA-1 is wrong (a corrupted cache) is thrown away and downloaded again, and
 * a download whose SHA-1 is wrong is refused with an error naming the jar,
 * the URL and both SHA-1s.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export const TOMCAT_VERSION = '6.0.53';

export const MAVEN_CENTRAL = 'https://repo1.maven.org/maven2';

/** The jars of org.apache.tomcat:<artifact>:6.0.53 and their SHA-1s (as published in Maven Central's .sha1 files). */
export const TOMCAT_ARTIFACTS: Readonly<Record<string, string>> = {
  catalina: 'e1f38149b0e23a5a598aeb81abb4ee1e1fde2eb5',
  coyote: 'c289a37f2a767ec808aa729d745d48b099b247d5',
  juli: 'ec418aab35a76a92aec618372e7866a9285d6484',
  'servlet-api': '90654f3e78eea2876014468ed777caf51f1f3b81',
  'annotations-api': '94cfa8a6ebc6b36e966bff433d4eeebf933f3f41',
};

/** Memory-lean defaults for a small VM under emulation. */
export const DEFAULT_JVM_OPTIONS: readonly string[] = ['-Xmx128m', '-Xss256k', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto', '-XX:-UsePerfData'];

/**
 * Always given: Tomcat 6 predates the module system, and on Java 17 it starts
 * and serves without these, but when it stops, the web application class
 * loader's leak clean-up reflects into the JDK and logs an error for each
 * package that is not opened: java.lang (Thread.threadLocals, for
 * clearReferencesThreadLocals), java.util (ResourceBundle.cacheList, for
 * clearReferencesResourceBundles) and sun.rmi.transport (clearReferencesRmiTargets).
 * java.io is not used by 6.0.53 (later Tomcats clear ObjectStreamClass
 * caches through it) and is kept as harmless.
 */
export const JAVA_17_OPTIONS: readonly string[] = [
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
  '--add-opens=java.base/java.util=ALL-UNNAMED',
  '--add-opens=java.base/java.io=ALL-UNNAMED',
  '--add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED',
];

export const BOOTSTRAP_CLASS = 'org.apache.catalina.startup.Bootstrap';

export interface TomcatOptions {
  /** Where CATALINA_HOME is laid out, e.g. <root>/usr/local/tomcat. */
  home: string;
  /** Where `home` is seen by whoever runs the command (e.g. /usr/local/tomcat inside the image); default `home`. */
  installedAt?: string;
  /** The HTTP connector's port; default 8080. */
  port?: number;
  /** The java command; default 'java' (from PATH). */
  java?: string;
  /** JVM options; default DEFAULT_JVM_OPTIONS. JAVA_17_OPTIONS are always added; $JAVA_OPTS and $CATALINA_OPTS at run time come after these. */
  jvmOptions?: string[];
  /** Folder where downloaded jars are kept between runs, e.g. $VM_CACHE/tomcat-6.0.53. */
  cache: string;
  /** The fetch to download with; default Node's global fetch (the tests count requests with it). */
  fetch?: (url: string, init?: RequestInit) => Promise<Response>;
}

export interface AssembledTomcat {
  /** The argv that starts Tomcat in the foreground: ['/bin/sh', '<installedAt>/bin/run.sh']. */
  command: string[];
  /** The jars downloaded by this call (artifact ids); empty when all came from the cache. */
  downloaded: string[];
  /** Cached jars whose SHA-1 was wrong, thrown away and downloaded again. */
  replaced: string[];
}

const sha1 = (data: Uint8Array) => createHash('sha1').update(data).digest('hex');

const jarName = (artifact: string) => `${artifact}-${TOMCAT_VERSION}.jar`;

export function artifactUrl(artifact: string): string {
  return `${MAVEN_CENTRAL}/org/apache/tomcat/${artifact}/${TOMCAT_VERSION}/${jarName(artifact)}`;
}

async function download(get: NonNullable<TomcatOptions['fetch']>, url: string): Promise<Buffer> {
  let answer: Response;
  try {
    answer = await get(url, { signal: AbortSignal.timeout(120_000) });
  } catch (error) {
    throw new Error(`tomcat: cannot download ${url}: ${(error as Error).message}`);
  }
  if (!answer.ok) throw new Error(`tomcat: cannot download ${url}: HTTP ${answer.status} ${answer.statusText}`);
  return Buffer.from(await answer.arrayBuffer());
}

/** Downloads one jar and its .sha1, checks both SHA-1s, and stores it in the cache. */
async function fetchJar(get: NonNullable<TomcatOptions['fetch']>, artifact: string, cached: string): Promise<void> {
  const url = artifactUrl(artifact);
  const [jar, sha1File] = await Promise.all([download(get, url), download(get, `${url}.sha1`)]);
  const published = sha1File.toString('utf8').trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  const actual = sha1(jar);
  if (actual !== published) {
    throw new Error(`tomcat: ${jarName(artifact)} from ${url} has SHA-1 ${actual}, but ${url}.sha1 says ${published || '(nothing)'}: refused`);
  }
  if (actual !== TOMCAT_ARTIFACTS[artifact]) {
    throw new Error(`tomcat: ${jarName(artifact)} from ${url} has SHA-1 ${actual}, but Tomcat ${TOMCAT_VERSION}'s is ${TOMCAT_ARTIFACTS[artifact]}: refused`);
  }
  const partial = `${cached}.partial-${process.pid}`;
  writeFileSync(partial, jar);
  renameSync(partial, cached);
}

/** Single-quoted for /bin/sh. */
const shq = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`);

function runScript(java: string, jvmOptions: readonly string[]): string {
  const options = [...JAVA_17_OPTIONS, ...jvmOptions].map(shq).join(' ');
  return `#!/bin/sh
# Apache Tomcat ${TOMCAT_VERSION} in the foreground (written by test/vm/tomcat.ts).
# CATALINA_HOME is the folder above this script's; $JAVA_OPTS and $CATALINA_OPTS
# come after the built-in JVM options, so they win.
CATALINA_HOME=$(cd "$(dirname "$0")/.." && pwd) || exit 1
cd "$CATALINA_HOME" || exit 1
# shellcheck disable=SC2086
exec ${shq(java)} ${options} $JAVA_OPTS $CATALINA_OPTS \\
  -classpath "$CATALINA_HOME/lib/*" \\
  -Dcatalina.home="$CATALINA_HOME" -Dcatalina.base="$CATALINA_HOME" \\
  -Djava.io.tmpdir="$CATALINA_HOME/temp" \\
  -Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager \\
  -Djava.util.logging.config.file="$CATALINA_HOME/conf/logging.properties" \\
  ${BOOTSTRAP_CLASS} start
`;
}

function serverXml(port: number): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Apache Tomcat ${TOMCAT_VERSION} for the VM test (test/vm/tomcat.ts). No shutdown port: stop it with a signal. -->
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="${port}" protocol="HTTP/1.1" connectionTimeout="20000" />
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" deployOnStartup="true" />
    </Engine>
  </Service>
</Server>
`;
}

const MIME_TYPES: Record<string, string> = {
  html: 'text/html',
  htm: 'text/html',
  txt: 'text/plain',
  css: 'text/css',
  js: 'text/javascript',
  json: 'application/json',
  png: 'image/png',
  ico: 'image/x-icon',
  svg: 'image/svg+xml',
};

const WEB_XML = `<?xml version="1.0" encoding="UTF-8"?>
<!-- Defaults for every web application (test/vm/tomcat.ts): the default servlet, no JSP. -->
<web-app xmlns="http://java.sun.com/xml/ns/javaee"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="http://java.sun.com/xml/ns/javaee http://java.sun.com/xml/ns/javaee/web-app_2_5.xsd"
    version="2.5">
  <servlet>
    <servlet-name>default</servlet-name>
    <servlet-class>org.apache.catalina.servlets.DefaultServlet</servlet-class>
    <init-param>
      <param-name>debug</param-name>
      <param-value>0</param-value>
    </init-param>
    <init-param>
      <param-name>listings</param-name>
      <param-value>false</param-value>
    </init-param>
    <load-on-startup>1</load-on-startup>
  </servlet>
  <servlet-mapping>
    <servlet-name>default</servlet-name>
    <url-pattern>/</url-pattern>
  </servlet-mapping>
  <session-config>
    <session-timeout>30</session-timeout>
  </session-config>
${Object.entries(MIME_TYPES).map(([extension, type]) => `  <mime-mapping>
    <extension>${extension}</extension>
    <mime-type>${type}</mime-type>
  </mime-mapping>
`).join('')}  <welcome-file-list>
    <welcome-file>index.html</welcome-file>
  </welcome-file-list>
</web-app>
`;

// Tomcat's own defaults (catalina.jar's org/apache/catalina/startup/catalina.properties)
// but for the loaders: empty, so Bootstrap uses the class loader that loaded it
// (the -classpath lib/*) for everything rather than a second one over the same jars.
const CATALINA_PROPERTIES = `# Apache Tomcat ${TOMCAT_VERSION} for the VM test (test/vm/tomcat.ts).
package.access=sun.,org.apache.catalina.,org.apache.coyote.,org.apache.jasper.,org.apache.naming.resources.,org.apache.tomcat.,sun.beans.
package.definition=sun.,java.,org.apache.catalina.,org.apache.coyote.,org.apache.jasper.,org.apache.naming.,org.apache.tomcat.
common.loader=
server.loader=
shared.loader=
tomcat.util.buf.StringCache.byte.enabled=true
`;

const LOGGING_PROPERTIES = `# Apache Tomcat ${TOMCAT_VERSION} for the VM test (test/vm/tomcat.ts): everything on the console, nothing in logs/.
handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
.level = INFO
java.util.logging.ConsoleHandler.level = INFO
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter
`;

const INDEX_HTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Apache Tomcat/${TOMCAT_VERSION}</title>
</head>
<body>
<h1>Apache Tomcat/${TOMCAT_VERSION}</h1>
<p>If you're seeing this page via a web browser, it means you've setup Tomcat successfully. Congratulations!</p>
<p>This is the ROOT web application of the cluster's tomcat6 app: Apache Tomcat ${TOMCAT_VERSION},
assembled from its jars on Maven Central for the VM test, serving this page with its default servlet.</p>
</body>
</html>
`;

/**
 * Lays out Apache Tomcat 6.0.53 under options.home (jars from options.cache,
 * downloaded there first when missing or corrupted) and returns the command
 * that starts it in the foreground.
 */
export async function assembleTomcat(options: TomcatOptions): Promise<AssembledTomcat> {
  const home = path.resolve(options.home);
  const installedAt = options.installedAt ?? home;
  if (!path.posix.isAbsolute(installedAt)) throw new Error(`tomcat: installedAt must be an absolute path, not ${installedAt}`);
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`tomcat: port must be an integer from 1 to 65535, not ${port}`);
  const get = options.fetch ?? ((url: string, init?: RequestInit) => fetch(url, init));
  const downloaded: string[] = [];
  const replaced: string[] = [];

  mkdirSync(options.cache, { recursive: true });
  for (const dir of ['bin', 'conf', 'lib', 'logs', 'temp', 'work', 'webapps/ROOT']) mkdirSync(path.join(home, dir), { recursive: true });

  for (const [artifact, expected] of Object.entries(TOMCAT_ARTIFACTS)) {
    const cached = path.join(options.cache, jarName(artifact));
    if (existsSync(cached)) {
      if (sha1(readFileSync(cached)) === expected) {
        copyFileSync(cached, path.join(home, 'lib', jarName(artifact)));
        continue;
      }
      rmSync(cached);
      replaced.push(artifact);
    }
    await fetchJar(get, artifact, cached);
    downloaded.push(artifact);
    copyFileSync(cached, path.join(home, 'lib', jarName(artifact)));
  }

  const run = path.join(home, 'bin', 'run.sh');
  writeFileSync(run, runScript(options.java ?? 'java', options.jvmOptions ?? DEFAULT_JVM_OPTIONS));
  chmodSync(run, 0o755);
  writeFileSync(path.join(home, 'conf', 'server.xml'), serverXml(port));
  writeFileSync(path.join(home, 'conf', 'web.xml'), WEB_XML);
  writeFileSync(path.join(home, 'conf', 'catalina.properties'), CATALINA_PROPERTIES);
  writeFileSync(path.join(home, 'conf', 'logging.properties'), LOGGING_PROPERTIES);
  writeFileSync(path.join(home, 'webapps', 'ROOT', 'index.html'), INDEX_HTML);

  return { command: ['/bin/sh', path.posix.join(installedAt, 'bin', 'run.sh')], downloaded, replaced };
}
