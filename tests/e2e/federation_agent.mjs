// Helpers shared by the federation tests and bench/federation.mjs: the pysaml2 IdP
// process, a cookie-keeping HTTP agent, and the two federated sign-in flows.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PORTAL_HOST, freePort } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = path.resolve(here, '../.venv/bin/python');
const SAML_IDP = path.resolve(here, '../federation/saml_idp.py');

/** Starts the pysaml2 IdP and waits for its "ready" line. */
export async function startSamlIdp() {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-saml-idp-'));
  const child = spawn(PYTHON, [SAML_IDP, String(port), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (c) => (log += c));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saml idp did not start\n${log}`)), 60_000);
    child.stdout.on('data', (c) => {
      if (String(c).includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`saml idp exited ${code}\n${log}`)));
  });
  const control = (p, body) =>
    fetch(`http://127.0.0.1:${port}${p}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.text());
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    next: (n) => control('/test/next', n),
    logouts: () => fetch(`http://127.0.0.1:${port}/test/logouts`).then((r) => r.json()),
    trust: (entityId, acsUrl) => control('/test/sp', { entity_id: entityId, acs_url: acsUrl }),
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The page text with the entities our templates escape turned back into characters. */
function decode(html) {
  return html
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replaceAll('&quot;', '"')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

/**
 * A minimal browser for the HTTP-level tests: a cookie jar per host, manual redirects.
 * Portal requests go to 127.0.0.1 with the portal's name (SNI and Host); the
 * development certificate is accepted.
 */
export class Agent {
  constructor(server) {
    this.server = server;
    this.jar = new Map();
  }

  cookies(host) {
    if (!this.jar.has(host)) this.jar.set(host, new Map());
    return this.jar.get(host);
  }

  store(host, setCookie) {
    for (const line of [setCookie ?? []].flat()) {
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') this.cookies(host).delete(name);
      else this.cookies(host).set(name, value);
    }
  }

  request(method, url, { body, headers = {}, cookies = true } = {}) {
    const u = new URL(url, this.server.url);
    const portal = u.hostname === PORTAL_HOST;
    const jar = this.cookies(u.host);
    const h = { host: u.host, ...headers };
    if (cookies && jar.size) h.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) {
      h['content-type'] = 'application/x-www-form-urlencoded';
      h['content-length'] = Buffer.byteLength(body);
    }
    const lib = u.protocol === 'https:' ? https : http;
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = lib.request(
        {
          host: '127.0.0.1',
          port: u.port,
          path: u.pathname + u.search,
          method,
          headers: h,
          servername: portal ? PORTAL_HOST : undefined,
          rejectUnauthorized: false,
          timeout: 30_000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            this.store(u.host, res.headers['set-cookie']);
            const ms = performance.now() - started;
            resolve({ status: res.statusCode, headers: res.headers, body: decode(text), url: u.href, ms });
          });
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${u.href} timed out`)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  /** GET, following redirects; returns the last answer, every URL visited and each hop's time. */
  async follow(url, { max = 25 } = {}) {
    const visited = [];
    const hops = [];
    let res = await this.request('GET', url);
    visited.push(res.url);
    hops.push({ url: res.url, ms: res.ms });
    for (let i = 0; i < max && res.status >= 300 && res.status < 400; i++) {
      res = await this.request('GET', new URL(res.headers.location, res.url).href);
      visited.push(res.url);
      hops.push({ url: res.url, ms: res.ms });
    }
    res.visited = visited;
    res.hops = hops;
    return res;
  }

  async csrf() {
    const res = await this.request('GET', '/login');
    return res.body.match(/name="csrf" value="([^"]+)"/)[1];
  }

  async post(url, fields, opts = {}) {
    return this.request('POST', url, {
      body: new URLSearchParams(fields).toString(),
      headers: { origin: this.server.url, ...(opts.headers ?? {}) },
      cookies: opts.cookies ?? true,
    });
  }

  /** The email step; returns its answer (a redirect). */
  async typeEmail(email) {
    return this.post('/login', { csrf: await this.csrf(), email, return_to: '' });
  }
}

/** Email step, then the provider's redirect chain, up to the first page that is not a redirect. */
export async function oidcSignIn(server, email) {
  const agent = new Agent(server);
  const step = await agent.typeEmail(email);
  assert.equal(step.status, 303);
  const note = await agent.follow(step.headers.location);
  assert.match(note.body, /You will be routed to your identity provider's login page/);
  const start = note.body.match(/href="(\/login\/federation\/[^"]+\/start)"/)[1];
  const res = await agent.follow(start);
  return { agent, res };
}

/** The SAML flow: the IdP's auto-posting form is posted cross-site (no portal cookies). */
export async function samlSignIn(server, email, { replay = false } = {}) {
  const agent = new Agent(server);
  const step = await agent.typeEmail(email);
  const note = await agent.follow(step.headers.location);
  const start = note.body.match(/href="(\/login\/federation\/[^"]+\/start)"/)[1];
  const form = await agent.follow(start);
  assert.equal(form.status, 200, form.body.slice(0, 300));
  const action = form.body.match(/action="([^"]+)"/)[1];
  const samlResponse = form.body.match(/name="SAMLResponse" value="([^"]+)"/)[1];
  const posted = await agent.post(action, { SAMLResponse: samlResponse, RelayState: '' }, {
    cookies: false,
    headers: { origin: new URL(form.url).origin },
  });
  if (posted.status !== 303) return { agent, res: posted, samlResponse, action, acsMs: posted.ms };
  const res = await agent.follow(posted.headers.location);
  if (replay) res.replayed = await agent.post(action, { SAMLResponse: samlResponse }, { cookies: false });
  return { agent, res, samlResponse, action, acsMs: posted.ms };
}
