// Three portcullis instances on different ports sharing one PostgreSQL server (state)
// and one Redis (sessions), as behind a TCP load balancer: a sign-in on one is used on
// the others, a handshake or OIDC code redeemed on one fails on the others, two
// concurrent refreshes with one token have one winner, failed sign-ins count on every
// instance, and a SIGKILLed instance costs no request for a live session on the others
// and no acknowledged write. PostgreSQL is Debian's, started by
// scripts/pg-test-server.sh in a temporary directory (as the `postgres` user when
// root); Redis is Debian's redis-server. Nothing is skipped unless
// PORTCULLIS_SKIP_POSTGRES=1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DEMO,
  Server,
  freePort,
  httpsGet,
  launchBrowser,
  newContext,
  request as harnessRequest,
  screenshot,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PG_SCRIPT = path.resolve(here, '../../scripts/pg-test-server.sh');
const TEST_TIMEOUT = 300_000;
const skip = process.env.PORTCULLIS_SKIP_POSTGRES === '1' && 'PORTCULLIS_SKIP_POSTGRES=1';

const RP_SECRET = 'scaleout-rp-secret-7c1e9b2a4d6f8e0a1b3c5d7e9f';
const MASTER_KEY = randomBytes(32).toString('base64');
const sha = (s) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const MSG = Object.freeze({
  incorrect: 'Incorrect email or password.',
  locked: 'This account is locked after too many failed attempts. Reset your password (Reset User Password) to unlock it, or ask your administrator to unlock it.',
});

function startPostgres() {
  // The watchdog stops the server when this process ends, even on a crash.
  const out = execFileSync('bash', [PG_SCRIPT, 'start', String(process.pid)], { encoding: 'utf8' });
  const [url, dir] = out.trim().split('\n');
  return { url, dir, stop: () => execFileSync('bash', [PG_SCRIPT, 'stop', dir]) };
}

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return { child, port };
    await sleep(50);
  }
  child.kill();
  throw new Error('redis-server did not start');
}

/** A request to an instance, with this suite's 10 s bound unless told otherwise. */
const request = (port, method, urlPath, opts = {}) => harnessRequest(port, method, urlPath, { timeoutMs: 10_000, ...opts });

/** POST to an instance's token endpoint as the confidential client `rp`. */
async function token(server, params) {
  const res = await request(server.port, 'POST', '/oauth2/token', {
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`rp:${RP_SECRET}`).toString('base64')}`,
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, json: JSON.parse(res.body) };
}

describe('three instances sharing PostgreSQL and Redis', { timeout: TEST_TIMEOUT, skip }, () => {
  let pg;
  let redis;
  let upstream;
  let rpServer;
  let CB;
  const callbacks = [];
  let servers = [];
  let browser;
  let context;
  let page;

  const [A, B, C] = [0, 1, 2].map((i) => () => servers[i]);

  before(async () => {
    pg = startPostgres();
    redis = await startRedis();
    upstream = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ email: req.headers['x-portcullis-email'] ?? null, path: req.url }));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    rpServer = http.createServer((req, res) => {
      // Only the redirect back: Chromium also asks this server for /favicon.ico.
      const u = new URL(req.url, CB);
      if (u.pathname !== '/favicon.ico') callbacks.push(u);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
    rpServer.listen(0, '127.0.0.1');
    await once(rpServer, 'listening');
    CB = `http://127.0.0.1:${rpServer.address().port}/cb`;

    const policies = {
      shared: `host = "shared.localhost"\nupstreams = ["127.0.0.1:${upstream.address().port}"]\neveryone = true\n`,
    };
    // Instances sharing a database share the master key (it seals the signing keys).
    const extraToml = `
[secrets]
master_key = "${MASTER_KEY}"

[sessions]
store = "redis"
redis_url = "redis://127.0.0.1:${redis.port}/0"

[[oidc.clients]]
client_id = "rp"
client_secret_hash = "${sha(RP_SECRET)}"
redirect_uris = ["${CB}"]
application = "Team Wiki"
`;
    const opts = { policies, extraToml, databaseUrl: pg.url };
    // The first start migrates and seeds the new database; the other two then start
    // together (concurrent migrations are covered by the Rust store tests).
    const a = await Server.start('scale-a', opts);
    const [b, c] = await Promise.all([Server.start('scale-b', opts), Server.start('scale-c', opts)]);
    servers = [a, b, c];
    browser = await launchBrowser();
    context = await newContext(browser);
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await Promise.all(servers.map((s) => s?.stop()));
    redis?.child.kill();
    upstream?.close();
    rpServer?.close();
    pg?.stop();
  });

  async function signIn(server, email, password) {
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Login', exact: true }).click();
    await page.waitForLoadState('load');
  }

  const alertText = async () => (await page.getByRole('alert').first().innerText()).trim();

  async function sessionCookie() {
    const c = (await context.cookies(A().url)).find((k) => k.name === '__Host-portcullis_session');
    assert.ok(c, 'a portal session cookie');
    return `__Host-portcullis_session=${c.value}`;
  }

  /** An OIDC code from `server`'s authorize endpoint, through the signed-in browser. */
  async function code(server) {
    const before = callbacks.length;
    const q = new URLSearchParams({ response_type: 'code', client_id: 'rp', redirect_uri: CB, scope: 'openid email', state: 'st' });
    await page.goto(`${server.url}/oauth2/authorize?${q}`);
    const deadline = Date.now() + 30_000;
    while (callbacks.length === before) {
      if (Date.now() > deadline) {
        await screenshot(page, 'scaleout-no-callback');
        assert.fail(`no callback; the browser is at ${page.url()}`);
      }
      await sleep(50);
    }
    const cb = callbacks[callbacks.length - 1];
    assert.equal(cb.searchParams.get('state'), 'st');
    return cb.searchParams.get('code');
  }

  test('a sign-in on one instance is used on the others, and survives the JWKS of all', async () => {
    await signIn(A(), DEMO.email, DEMO.password);
    assert.equal(new URL(page.url()).pathname, '/apps', 'signed in on A');
    const cookie = await sessionCookie();
    for (const s of [B(), C()]) {
      const res = await httpsGet(s.port, '/apps', { headers: { cookie } });
      assert.equal(res.status, 200, `the session made on A works on ${s.name}`);
      assert.ok(res.body.includes('Team Wiki'));
    }
    // Negative: an unknown session is refused everywhere.
    const res = await httpsGet(C().port, '/apps', { headers: { cookie: '__Host-portcullis_session=forged' } });
    assert.equal(res.status, 303);
    // All instances publish the same signing keys.
    const jwks = await Promise.all(servers.map(async (s) => (await httpsGet(s.port, '/oauth2/jwks')).body));
    assert.ok(JSON.parse(jwks[0]).keys.length >= 2);
    assert.equal(jwks[1], jwks[0]);
    assert.equal(jwks[2], jwks[0]);
  });

  test('a handshake code issued on A is redeemed on B once, and fails on C', async () => {
    const cookie = await sessionCookie();
    // A's gateway starts the round trip (a state cookie and the portal URL) and A's
    // portal issues the code; the browser's next request lands on B. (On one public
    // name behind a balancer any instance could take any step; here each instance has
    // its own port, so the steps that check the origin stay on A.)
    const start = await request(A().port, 'GET', '/page', { host: 'shared.localhost', headers: { accept: 'text/html' } });
    assert.equal(start.status, 302, start.body);
    const stateCookie = [start.headers['set-cookie']].flat().find((c) => c.includes('portcullis_state='));
    assert.ok(stateCookie, 'a state cookie');
    const state = stateCookie.split(';')[0];
    const authorize = new URL(start.headers.location);
    const issued = await request(A().port, 'GET', authorize.pathname + authorize.search, { headers: { cookie } });
    assert.equal(issued.status, 200, issued.body);
    const next = new URL(issued.body.match(/url=([^"]+)"/)[1].replaceAll('&amp;', '&'));
    const callback = next.pathname + next.search;
    const redeemed = await request(B().port, 'GET', callback, { host: 'shared.localhost', headers: { cookie: state } });
    assert.ok([302, 303].includes(redeemed.status), `B redeems A's code: ${redeemed.status} ${redeemed.body}`);
    assert.equal(redeemed.headers.location, '/page');
    const appCookie = [redeemed.headers['set-cookie']].flat().find((c) => c.startsWith('__Host-portcullis_app='));
    assert.ok(appCookie, 'an application cookie');
    const replay = await request(C().port, 'GET', callback, { host: 'shared.localhost', headers: { cookie: state } });
    assert.equal(replay.status, 400, 'the code is spent for every instance');
    // The application cookie works on every instance.
    for (const s of servers) {
      const res = await request(s.port, 'GET', '/x', {
        host: 'shared.localhost',
        headers: { cookie: appCookie.split(';')[0], accept: 'application/json' },
      });
      assert.equal(res.status, 200, `${s.name}: ${res.body}`);
      assert.equal(JSON.parse(res.body).email, DEMO.email);
    }
  });

  test('an OIDC code redeemed on one instance fails on the others, even when raced', async () => {
    const first = await code(A());
    const won = await token(B(), { grant_type: 'authorization_code', code: first, redirect_uri: CB });
    assert.equal(won.status, 200, JSON.stringify(won.json));
    for (const s of [A(), C()]) {
      const again = await token(s, { grant_type: 'authorization_code', code: first, redirect_uri: CB });
      assert.equal(again.status, 400);
      assert.equal(again.json.error, 'invalid_grant');
    }
    // The same code sent to all three at once: exactly one answer carries tokens.
    const raced = await code(C());
    const answers = await Promise.all(
      [...servers, ...servers].map((s) => token(s, { grant_type: 'authorization_code', code: raced, redirect_uri: CB })),
    );
    const served = answers.filter((r) => r.status === 200);
    assert.equal(served.length, 1, JSON.stringify(answers.map((r) => r.status)));
    assert.ok(answers.filter((r) => r.status !== 200).every((r) => r.json.error === 'invalid_grant'));
    // The replays revoked what the one winner was given (RFC 6749 section 4.1.2).
    const after = await token(B(), { grant_type: 'refresh_token', refresh_token: served[0].json.refresh_token });
    assert.equal(after.json.error, 'invalid_grant');
  });

  test('two concurrent refreshes with one token on different instances: exactly one wins', async () => {
    const tokens = await token(A(), { grant_type: 'authorization_code', code: await code(B()), redirect_uri: CB });
    assert.equal(tokens.status, 200);
    const rt = tokens.json.refresh_token;
    const answers = await Promise.all(servers.map((s) => token(s, { grant_type: 'refresh_token', refresh_token: rt })));
    const winners = answers.filter((r) => r.status === 200);
    assert.equal(winners.length, 1, JSON.stringify(answers.map((r) => r.status)));
    assert.ok(answers.filter((r) => r.status !== 200).every((r) => r.json.error === 'invalid_grant'));
    // The reuse revoked the family: the winner's new token is dead on every instance too.
    const after = await token(C(), { grant_type: 'refresh_token', refresh_token: winners[0].json.refresh_token });
    assert.equal(after.json.error, 'invalid_grant');
  });

  test('failed sign-ins count on every instance toward one lockout', async () => {
    // The administrator's hard lock (the default, progressive, only delays
    // the guessing address: idp/tests/lockout.rs).
    await A().adminOk('settings', 'set', 'lockout.mode', 'hard');
    await A().adminOk('settings', 'set', 'lockout.threshold', '3');
    const email = 'lock.me@example.com';
    const password = 'Quiet-Lantern-4821!';
    await A().adminOk('users', 'add', '--email', email, '--first-name', 'Lock', '--last-name', 'Me', '--password', password);
    await context.clearCookies();
    // One wrong password on each instance: no instance alone saw three.
    for (const s of servers) {
      await signIn(s, email, 'wrong-password-1');
      assert.equal(await alertText(), MSG.incorrect, s.name);
    }
    // The right password on any instance now finds the account locked.
    await signIn(B(), email, password);
    assert.equal(await alertText(), MSG.locked);
    // Negative: the demo user, with no failures, still signs in on C.
    await signIn(C(), DEMO.email, DEMO.password);
    assert.equal(new URL(page.url()).pathname, '/apps');
  });

  test('SIGKILL of one instance mid-load: no request for a live session fails on the others, no write is lost', async (t) => {
    const cookie = await sessionCookie();
    // An application cookie for the load (through the handshake in the browser, on A).
    await page.goto(`https://shared.localhost:${A().port}/load`);
    await page.waitForURL((u) => u.host === `shared.localhost:${A().port}`);
    const app = (await context.cookies(`https://shared.localhost:${A().port}`)).find((c) => c.name === '__Host-portcullis_app');
    assert.ok(app);
    const appCookie = `__Host-portcullis_app=${app.value}`;
    const proxied = (s) =>
      request(s.port, 'GET', '/load', { host: 'shared.localhost', headers: { cookie: appCookie, accept: 'application/json' } });

    // Writes: refresh-token chains, each rotation acknowledged by some instance
    // (A included) before the kill.
    const chains = [];
    for (let i = 0; i < 4; i++) {
      const t = await token(servers[i % 3], { grant_type: 'authorization_code', code: await code(servers[(i + 1) % 3]), redirect_uri: CB });
      assert.equal(t.status, 200);
      chains.push(t.json.refresh_token);
    }
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < chains.length; i++) {
        const r = await token(servers[(i + round) % 3], { grant_type: 'refresh_token', refresh_token: chains[i] });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        chains[i] = r.json.refresh_token;
      }
    }

    // Load over all three; A dies in the middle; a balancer stops sending to it.
    let live = [...servers];
    const survivors = { ok: 0, failed: [] };
    let onA = 0;
    const stopAt = Date.now() + 6_000;
    const worker = async (w) => {
      for (let n = w; Date.now() < stopAt; n++) {
        const s = live[n % live.length];
        try {
          const res = await proxied(s);
          if (s === A()) {
            if (res.status === 200) onA++;
            continue;
          }
          if (res.status === 200 && JSON.parse(res.body).email === DEMO.email) survivors.ok++;
          else survivors.failed.push(`${s.name}: ${res.status}`);
        } catch (e) {
          if (s !== A()) survivors.failed.push(`${s.name}: ${e.message}`);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 12 }, (_, w) => worker(w)));
    await sleep(2_000);
    A().child.kill('SIGKILL');
    live = [B(), C()];
    await load;
    assert.deepEqual(survivors.failed, [], 'no request to a live instance failed');
    assert.ok(survivors.ok > 50, `requests served by B and C: ${survivors.ok}`);
    assert.ok(onA > 0, 'A served load before it died');
    t.diagnostic(`proxied requests: ${survivors.ok} served by B and C, none failed; ${onA} by A before SIGKILL`);
    const exit = await A().exited;
    assert.equal(exit.signal, 'SIGKILL');

    // Every rotation acknowledged before the kill (some by A) is there: each chain
    // continues on the survivors, and its previous token counts as reused.
    for (let i = 0; i < chains.length; i++) {
      const r = await token(live[i % 2], { grant_type: 'refresh_token', refresh_token: chains[i] });
      assert.equal(r.status, 200, `chain ${i}: ${JSON.stringify(r.json)}`);
    }
    // The portal session and the lockout written earlier are still in force.
    assert.equal((await httpsGet(C().port, '/apps', { headers: { cookie } })).status, 200);
    await context.clearCookies();
    await signIn(C(), 'lock.me@example.com', 'Quiet-Lantern-4821!');
    assert.equal(await alertText(), MSG.locked);
  });
});
