// Test harness for the end-to-end suite: starts the real `portcullis` binary on a free
// port with a throw-away data directory, runs its admin CLI, and drives Debian's
// Chromium through playwright-core (no browser download: there is no network here).
import { spawn, execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where screenshots and server logs go (ignored by git). */
export const ARTIFACTS = path.join(here, 'artifacts');

/** The binary under test: $PORTCULLIS_BIN, else the workspace's debug build. */
export const BIN = path.resolve(here, process.env.PORTCULLIS_BIN ?? '../../target/debug/portcullis');

/** The demo account the server seeds from the `[demo]` section of its config. */
export const DEMO = Object.freeze({
  email: 'demo@example.com',
  password: 'Demo-Passw0rd!2026',
  firstName: 'Dana',
  lastName: 'Reyes',
  apps: Object.freeze(['Team Wiki', 'Expense Reports']),
});

/** Host names the browser may talk to; everything else is aborted. */
export const PORTAL_HOST = 'portal.localhost';
const ALLOWED_HOSTS = new Set([PORTAL_HOST, '127.0.0.1', 'localhost', '[::1]']);
/** Protected application hosts in the tests are all `*.localhost`, mapped to loopback. */
const allowedHost = (host) => ALLOWED_HOSTS.has(host) || host.endsWith('.localhost');

const HEALTH_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 10_000;
const LOG_LIMIT = 256 * 1024;

/** Asks the kernel for a free TCP port on loopback. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * GET over HTTPS against 127.0.0.1, accepting the server's self-signed certificate.
 * `host` sets both SNI and the Host header (the portal's by default).
 */
export function httpsGet(port, urlPath, { timeoutMs = 5_000, headers = {}, host = PORTAL_HOST } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        servername: host,
        rejectUnauthorized: false,
        headers: host === PORTAL_HOST ? headers : { host: `${host}:${port}`, ...headers },
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * One HTTPS request of any method on loopback, accepting the server's self-signed
 * certificate; `host` sets SNI and the Host header. Resolves to {status, headers,
 * body, ms}.
 */
export function request(port, method, urlPath, { host = PORTAL_HOST, headers = {}, body = null, timeoutMs = 30_000 } = {}) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        servername: host,
        rejectUnauthorized: false,
        agent: false,
        headers: { host: `${host}:${port}`, ...headers },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text, ms: Date.now() - started }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

/**
 * A fetch for openid-client that trusts the server's development CA and reaches
 * portal.localhost on loopback whatever the resolver says.
 */
export function tlsFetch(ca) {
  return (url, options = {}) =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const headers = { host: u.host };
      for (const [k, v] of new Headers(options.headers)) headers[k] = v;
      const req = https.request(
        {
          host: '127.0.0.1',
          port: u.port,
          path: u.pathname + u.search,
          method: options.method ?? 'GET',
          headers,
          ca,
          servername: u.hostname,
          signal: options.signal,
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              for (const one of [v].flat()) h.append(k, one);
            }
            const body = [204, 304].includes(res.statusCode) ? null : Buffer.concat(chunks);
            resolve(new Response(body, { status: res.statusCode, headers: h }));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (options.body != null) req.write(options.body.toString());
      req.end();
    });
}

function configToml({ port, dataDir, policiesDir, databaseUrl = null, extraToml = '', gatewayToml = '', storeToml = '' }) {
  return `[gateway]
policies_dir = "${policiesDir}"
${gatewayToml}

[server]
listen = "127.0.0.1:${port}"
public_url = "https://${PORTAL_HOST}:${port}"

[store]
data_dir = "${dataDir}"
${databaseUrl ? `database_url = "${databaseUrl}"` : ''}
${storeToml}

[passwords]
# cheap hashing in tests keeps them fast; production defaults are OWASP's
argon2_memory_kib = 8192
argon2_iterations = 1

[demo]
password = "${DEMO.password}"
${extraToml}`;
}

/**
 * A running `portcullis serve` with its own port, config and data directory.
 * Use `await Server.start('name')` and `await server.stop()`.
 */
export class Server {
  constructor(name) {
    this.name = name;
    /** TOML appended to the generated config (extra sections such as [mfa]). */
    this.log = '';
    this.child = null;
    this.exited = null;
  }

  /**
   * `policies` maps a policy id to its TOML text; they are written into the
   * server's own policies directory (`gateway.policies_dir`).
   */
  /** `gatewayToml` is added to the generated [gateway] section (which extraToml cannot reopen); `storeToml` to [store]. */
  static async start(name, { policies = {}, dataDir = null, databaseUrl = null, extraToml = '', gatewayToml = '', storeToml = '', ...unknown } = {}) {
    // A misspelt option would silently run the test on the default config.
    if (Object.keys(unknown).length) throw new Error(`Server.start: unknown options ${Object.keys(unknown).join(', ')}`);
    const server = new Server(name);
    server.policies = policies;
    // Another server's data directory: instances sharing the state store.
    server.sharedDataDir = dataDir;
    server.extraToml = extraToml;
    server.gatewayToml = gatewayToml;
    server.storeToml = storeToml;
    // `[store] database_url` (e.g. a PostgreSQL server shared by several instances).
    server.databaseUrl = databaseUrl;
    await server.#start();
    return server;
  }

  /** The URL of a protected application host on this server's port. */
  appUrl(host, urlPath = '/') {
    return `https://${host}:${this.port}${urlPath}`;
  }

  /** Base URL as a person types it: the public name, not the IP. */
  get url() {
    return `https://${PORTAL_HOST}:${this.port}`;
  }

  /** The last part of the server's stdout/stderr, for failure messages. */
  logTail(chars = 4_000) {
    return this.log.length > chars ? `…${this.log.slice(-chars)}` : this.log;
  }

  async #start() {
    if (!existsSync(BIN)) {
      throw new Error(`portcullis binary not found at ${BIN} (build it or set PORTCULLIS_BIN)`);
    }
    this.port = await freePort();
    this.dir = await mkdtemp(path.join(os.tmpdir(), `portcullis-e2e-${this.name}-`));
    this.dataDir = this.sharedDataDir ?? path.join(this.dir, 'data');
    await mkdir(this.dataDir, { recursive: true });
    this.configPath = path.join(this.dir, 'portcullis.toml');
    const policiesDir = path.join(this.dir, 'policies');
    await mkdir(policiesDir, { recursive: true });
    for (const [id, text] of Object.entries(this.policies ?? {})) {
      await writeFile(path.join(policiesDir, `${id}.toml`), text);
    }
    await writeFile(this.configPath, configToml({
        port: this.port,
        dataDir: this.dataDir,
        policiesDir,
        databaseUrl: this.databaseUrl,
        extraToml: this.extraToml,
        gatewayToml: this.gatewayToml,
        storeToml: this.storeToml,
      }));

    this.child = spawn(BIN, ['serve', '--config', this.configPath], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const append = (chunk) => {
      this.log += chunk.toString();
      if (this.log.length > LOG_LIMIT) this.log = this.log.slice(-LOG_LIMIT);
    };
    this.child.stdout.on('data', append);
    this.child.stderr.on('data', append);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
      this.child.once('error', (error) => resolve({ code: null, signal: null, error }));
    });

    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    let lastError = null;
    for (;;) {
      const exit = await Promise.race([this.exited, sleep(0, null)]);
      if (exit) {
        throw new Error(
          `portcullis serve exited before /healthz answered (code ${exit.code}, signal ${exit.signal}` +
            `${exit.error ? `, ${exit.error.message}` : ''})\n${this.logTail()}`,
        );
      }
      try {
        const res = await httpsGet(this.port, '/healthz', { timeoutMs: 2_000 });
        if (res.status === 200) return;
        lastError = new Error(`/healthz answered ${res.status}: ${res.body.slice(0, 200)}`);
      } catch (error) {
        lastError = error;
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(
          `portcullis serve did not answer /healthz with 200 within ${HEALTH_TIMEOUT_MS} ms ` +
            `(last: ${lastError?.message})\n${this.logTail()}`,
        );
      }
      await sleep(200);
    }
  }

  /** Runs `portcullis admin --config FILE ...args`; resolves to {code, stdout, stderr}. */
  admin(...args) {
    return new Promise((resolve) => {
      execFile(
        BIN,
        ['admin', '--config', this.configPath, ...args],
        { cwd: this.dir, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** Like admin() but throws (with the output) unless it exits 0. */
  async adminOk(...args) {
    const res = await this.admin(...args);
    if (res.code !== 0) {
      throw new Error(
        `portcullis admin ${args.join(' ')} exited ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`,
      );
    }
    return res;
  }

  /** SIGTERM, then SIGKILL after a grace period; writes the log to artifacts/, removes the temp dir. */
  async stop() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const exited = await Promise.race([this.exited, sleep(STOP_GRACE_MS, null)]);
      if (!exited) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    try {
      await mkdir(ARTIFACTS, { recursive: true });
      await writeFile(path.join(ARTIFACTS, `${this.name}-server.log`), this.log);
    } catch {
      // artifacts are a convenience; never fail a test over them
    }
    if (this.dir && !process.env.PORTCULLIS_E2E_KEEP) {
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}

/** Launches Debian's Chromium (never a downloaded one) with the flags this machine needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // The portal and every protected application host of the tests.
      `--host-resolver-rules=MAP ${PORTAL_HOST} 127.0.0.1, MAP *.localhost 127.0.0.1`,
    ],
  });
}

/**
 * A fresh browser context (its own cookies) that accepts the self-signed certificate
 * and aborts every request to a host other than the portal's.
 */
export async function newContext(browser) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
  });
  context.setDefaultTimeout(30_000);
  context.setDefaultNavigationTimeout(60_000);
  context.blocked = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    let host = '';
    try {
      host = new URL(url).hostname;
    } catch {
      // not a URL with a host; let it through (data:, about:)
      return route.continue();
    }
    if (host === '' || allowedHost(host)) return route.continue();
    context.blocked.push(url);
    return route.abort('blockedbyclient');
  });
  return context;
}

/** Full-page screenshot into artifacts/NAME.png. */
export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * An ed25519 public key for the SSH key tests and its SHA256 fingerprint: a fresh one from
 * ssh-keygen when it exists, else a fixed key made for these tests (public; no secret here).
 */
export async function ed25519PublicKey() {
  try {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-e2e-ssh-'));
    try {
      const keyPath = path.join(dir, 'id_ed25519');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'e2e@portcullis', '-f', keyPath], {
        stdio: 'ignore',
      });
      const publicKey = (await readFile(`${keyPath}.pub`, 'utf8')).trim();
      const listing = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${keyPath}.pub`], {
        encoding: 'utf8',
      });
      const fingerprint = listing.split(/\s+/)[1];
      return { publicKey, fingerprint };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } catch {
    return {
      publicKey:
        'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEVuIaMXA4GXjMslOJYMgmQfyPnMXGyVhKg4W8+ZYYZV e2e-fixed@portcullis',
      fingerprint: 'SHA256:BPVLY1xfeVZuDEB0oTrb+7O82ZvUDptJtQuBhh6gZJc',
    };
  }
}

/** A valid DSA (ssh-dss) public key: a key type the portal must refuse. */
export const DSA_PUBLIC_KEY =
  'ssh-dss AAAAB3NzaC1kc3MAAACBALj/pAtAT9rc5Mk9zSALmibuJ/WpWnIX/NE2xS32OmTgs4GXo1/ynLbm3dBolK5H7jU9BRcjZVKWldLaejzbf9WN2qXBFyNCFY89uE1Q1hlijgrWTxfRepiULwHIfBvmsmObfmGXrAKqXot5lKgLGamGyO4M/ueAm1+5Vg+X8jgZAAAAFQDEpyPLOQcjhHWem5SGjidulH3n7QAAAIAvZAwt3BfWcsGy1rP1IcW/qMF+xumV8ShLet9Jfj/GMyRsnN6c6aidmUoiURZ6PYpUDo6h8NAzMihYifqhKaBUm2+rAjq+uR3KwMbwkEP9glxDz7XIZwgFcYILxownAis+Gl5cBmyngtJOwRV81/Cjogxdvjyx7DyGytfCoebFigAAAIEAq1w2zJHXO0z0Rhrj/iCtAba5TO+mwoVqbgzjB2k0dx1jgoZ5XJgz082usXaROvqNIlrKL/PZIJb+j3IF4obvuN+ZMlUR3RQzUdTvc11iR3574fSVGKOnCK6djE5X0UYp/nIwwokgeAo5s/jNkRds5/WXDUNIEbMLXLOLUJBjLvk= e2e-dsa@portcullis';

/**
 * A real nginx (Debian's) in the foreground with its own prefix directory, serving
 * `servers` (the server blocks; `PORT` in them is replaced by a free port). Resolves
 * once the port accepts connections; `stop()` ends it and removes the directory.
 */
export async function startNginx(name, servers) {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), `portcullis-nginx-${name}-`));
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(conf, `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${dir};
    proxy_temp_path ${dir};
    fastcgi_temp_path ${dir};
    uwsgi_temp_path ${dir};
    scgi_temp_path ${dir};
${servers.replaceAll('PORT', String(port))}
}
`);
  const child = spawn('nginx', ['-c', conf, '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const code = await Promise.race([exited, sleep(0, null)]);
    if (code !== null) throw new Error(`nginx exited ${code} before listening: ${stderr}`);
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(() => resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not listen on ${port}: ${stderr}`);
    }
    await sleep(50);
  }
  return {
    port,
    addr: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
