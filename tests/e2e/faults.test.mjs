// Faults (issue 14): portcullis with its state in PostgreSQL and its sessions in
// Redis, with either of them stopped and started again under a small load.
//
// - PostgreSQL stopped: signed-in people keep being served from the gateway's cache
//   (gateway.store_outage_grace), fast; /readyz says 503 within about a second; a
//   sign-in gets the "temporarily unavailable" page (503), not a 500; started again:
//   everything recovers without restarting portcullis.
// - Redis stopped: "Log out" still signs the browser out (cookies cleared), and the
//   session dies for good once Redis is back (the sign-out was recorded in PostgreSQL).
// - Redis killed under load: an anonymous, forged or signed-out cookie never gets a 200,
//   and no request waits past the configured timeouts.
// - Two instances on one PostgreSQL, one SIGKILLed while a client rotates refresh
//   tokens in a loop: the newest refresh token the client holds still works (a rotation
//   committed but never answered is answered again, once: [oidc] refresh_reuse_grace).
//
// Timing assertions are generous (a busy two-core machine): every bound is the
// configured timeout plus SLACK_MS, and conditions are polled, never slept on.
// PostgreSQL is Debian's, run by scripts/pg-test-server.sh; Redis is Debian's
// redis-server. Skipped when PORTCULLIS_SKIP_POSTGRES=1 or redis-server is missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO, Server, freePort, launchBrowser, newContext, request, screenshot } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PG_SCRIPT = path.resolve(here, '../../scripts/pg-test-server.sh');
const TEST_TIMEOUT = 300_000;
const haveRedis = spawnSync('redis-server', ['--version']).status === 0;
const skip =
  (process.env.PORTCULLIS_SKIP_POSTGRES === '1' && 'PORTCULLIS_SKIP_POSTGRES=1') ||
  (!haveRedis && 'redis-server is not installed');

// The configuration under test.
const ACQUIRE_TIMEOUT_MS = 2_000; // [store] acquire_timeout
const READY_MS = 1_000; // /readyz answers within a second
const REDIS_TIMEOUT_MS = 1_000; // the Redis client's connect and response timeouts
// What a busy machine may add to any bound.
const SLACK_MS = 2_000;
// Deadlines for conditions that are polled.
const RECOVERY_MS = 60_000;
const START_MS = 30_000;

const RP_SECRET = 'faults-rp-secret-3b9e1c7a5d2f4e6a8b0c1d3e5f7a9b';
const MASTER_KEY = randomBytes(32).toString('base64');
const sha = (s) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

const pgScript = (...args) => execFileSync('bash', [PG_SCRIPT, ...args], { encoding: 'utf8' });

function startPostgres() {
  // The watchdog stops the server when this process ends, even on a crash.
  const [url, dir] = pgScript('start', String(process.pid)).trim().split('\n');
  return {
    url,
    dir,
    halt: () => pgScript('halt', dir),
    resume: () => pgScript('resume', dir),
    stop: () => pgScript('stop', dir),
  };
}

/** Whether a Redis server on `port` answers PING with PONG. */
function redisAnswers(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    let reply = '';
    s.setTimeout(2_000, () => s.destroy());
    s.on('data', (d) => {
      reply += d;
      if (reply.includes('\r\n')) s.end();
    });
    s.on('close', () => resolve(reply.startsWith('+PONG')));
    s.on('error', () => {});
  });
}

/** redis-server on `port`, its data in `dir` (append-only file): a restart keeps the sessions. */
async function startRedis(dir, port) {
  port ??= await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'],
    { stdio: 'ignore' },
  );
  const exited = once(child, 'exit');
  const up = await within(START_MS, () => (child.exitCode !== null || child.signalCode !== null ? true : redisAnswers(port)));
  if (up && child.exitCode === null && child.signalCode === null) return { child, port, exited };
  child.kill();
  await exited;
  throw new Error(`redis-server did not answer on ${port}`);
}

async function killRedis(redis, signal = 'SIGTERM') {
  if (redis.child.exitCode !== null || redis.child.signalCode !== null) return;
  redis.child.kill(signal);
  await redis.exited;
}

/** Polls `check` until it returns true or `ms` pass; returns whether it did. */
async function within(ms, check) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

const APP_HOST = 'shared.localhost';
const SESSION = '__Host-portcullis_session';
const APP = '__Host-portcullis_app';

/** A proxied request with an application cookie value (or none). */
const proxied = (server, cookie, urlPath = '/x') =>
  request(server.port, 'GET', urlPath, {
    host: APP_HOST,
    headers: { accept: 'application/json', ...(cookie ? { cookie: `${APP}=${cookie}` } : {}) },
  });

/** Signs the demo user in through the browser on `server`; returns the portal and application cookie values. */
async function signIn(context, server) {
  const page = await context.newPage();
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
  await page.getByRole('button', { name: 'Continue', exact: true }).click();
  await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
  await page.getByRole('button', { name: 'Login', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/apps');
  await page.goto(server.appUrl(APP_HOST, '/x'));
  await page.waitForURL((u) => u.host === `${APP_HOST}:${server.port}`);
  const session = (await context.cookies(server.url)).find((c) => c.name === SESSION);
  const app = (await context.cookies(server.appUrl(APP_HOST))).find((c) => c.name === APP);
  assert.ok(session && app, 'signed in: a portal and an application cookie');
  return { page, session: session.value, app: app.value };
}

describe('faults: PostgreSQL and Redis stopped and started again', { timeout: TEST_TIMEOUT, skip }, () => {
  let pg;
  let redis;
  let redisDir;
  let upstream;
  let server;
  let browser;
  /** An application cookie whose portal session was signed out (test 2). */
  let signedOutApp = null;

  before(async () => {
    pg = startPostgres();
    redisDir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-e2e-faults-redis-'));
    redis = await startRedis(redisDir);
    upstream = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ email: req.headers['x-portcullis-email'] ?? null }));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    server = await Server.start('faults', {
      databaseUrl: pg.url,
      policies: { shared: `host = "${APP_HOST}"\nupstreams = ["127.0.0.1:${upstream.address().port}"]\neveryone = true\n` },
      gatewayToml: 'session_cache_ttl = "1s"\nstore_outage_grace = "2m"',
      storeToml: `acquire_timeout = "${ACQUIRE_TIMEOUT_MS}ms"`,
      extraToml: `
[secrets]
master_key = "${MASTER_KEY}"

[sessions]
store = "redis"
redis_url = "redis://127.0.0.1:${redis.port}/0"
`,
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (redis) await killRedis(redis);
    upstream?.close();
    pg?.stop();
    if (redisDir) await rm(redisDir, { recursive: true, force: true });
  });

  test('PostgreSQL stopped: served from the cache fast, /readyz 503 within a second, sign-in gets the 503 page; started: recovered', async (t) => {
    const context = await newContext(browser);
    try {
      const { app } = await signIn(context, server);
      assert.equal((await proxied(server, app)).status, 200);
      assert.equal((await request(server.port, 'GET', '/readyz')).status, 200);

      pg.halt();
      try {
        // A few cache lifetimes (1 s each) of a small load: every refresh fails, and
        // every request is still answered, from the cache, well within the bound.
        const bound = ACQUIRE_TIMEOUT_MS + SLACK_MS;
        const answers = [];
        const stopAt = Date.now() + 6_000;
        await Promise.all(
          Array.from({ length: 3 }, async () => {
            while (Date.now() < stopAt) answers.push(await proxied(server, app));
          }),
        );
        const wrong = answers.filter((r) => r.status !== 200 || JSON.parse(r.body).email !== DEMO.email);
        assert.deepEqual(wrong.map((r) => `${r.status} ${r.body.slice(0, 80)}`), [], 'every request of the signed-in user served');
        const slowest = Math.max(...answers.map((r) => r.ms));
        t.diagnostic(`${answers.length} proxied requests during the outage, slowest ${slowest} ms`);
        assert.ok(slowest < bound, `slowest proxied request ${slowest} ms, bound ${bound} ms`);

        // Nobody new gets in: no cookie, a forged one.
        const anon = await proxied(server, null);
        assert.notEqual(anon.status, 200);
        const forged = await proxied(server, randomBytes(32).toString('base64url'));
        assert.notEqual(forged.status, 200);

        // Readiness: 503 within about a second, every time.
        for (let i = 0; i < 3; i++) {
          const ready = await request(server.port, 'GET', '/readyz');
          assert.equal(ready.status, 503, ready.body);
          assert.ok(ready.ms < READY_MS + SLACK_MS, `/readyz took ${ready.ms} ms`);
        }

        // A sign-in gets the clear 503 page (at the first step that needs the
        // database), after at most the acquire timeout.
        const other = await newContext(browser);
        try {
          const page = await other.newPage();
          const statuses = [];
          page.on('response', (r) => {
            if (r.request().isNavigationRequest()) statuses.push(r.status());
          });
          const started = Date.now();
          const unavailable = page.getByText('Sign-in is temporarily unavailable');
          await page.goto(`${server.url}/login`);
          if (!(await unavailable.isVisible())) {
            await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
            await page.getByRole('button', { name: 'Continue', exact: true }).click();
            await page.getByLabel('Password', { exact: true }).or(unavailable).first().waitFor();
            if (!(await unavailable.isVisible())) {
              await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
              await page.getByRole('button', { name: 'Login', exact: true }).click();
            }
          }
          await unavailable.waitFor();
          const took = Date.now() - started;
          await screenshot(page, 'faults-signin-postgres-down');
          assert.equal(statuses.at(-1), 503, `navigation statuses ${statuses}`);
          assert.ok(!statuses.includes(500), `no 500: ${statuses}`);
          // Each step at most the acquire timeout; three steps at most.
          assert.ok(took < 3 * ACQUIRE_TIMEOUT_MS + SLACK_MS, `the sign-in took ${took} ms to say so`);
        } finally {
          await other.close();
        }
      } finally {
        pg.resume();
      }

      // Recovered without a restart: ready, served, and sign-in works again.
      assert.ok(
        await within(RECOVERY_MS, async () => (await request(server.port, 'GET', '/readyz')).status === 200),
        'ready again',
      );
      assert.equal((await proxied(server, app)).status, 200);
      const again = await newContext(browser);
      try {
        await signIn(again, server);
      } finally {
        await again.close();
      }
      assert.equal(server.child.exitCode, null, 'portcullis never restarted');
    } finally {
      await context.close();
    }
  });

  test('Redis stopped: Log out signs the browser out, and the session dies once Redis is back', async () => {
    const context = await newContext(browser);
    try {
      const { page, session, app } = await signIn(context, server);
      await page.goto(`${server.url}/apps`);
      await page.getByRole('button', { name: 'Account menu' }).click();
      const withSession = { headers: { cookie: `${SESSION}=${session}` } };
      assert.equal((await request(server.port, 'GET', '/apps', withSession)).status, 200);

      await killRedis(redis);
      try {
        await page.getByRole('button', { name: 'Log out' }).click();
        await page.waitForURL((u) => u.pathname === '/login');
        const left = (await context.cookies(server.url)).filter((c) => c.name === SESSION);
        assert.deepEqual(left, [], 'the browser holds no session cookie after Log out');
        // This instance's cache forgot the session at once, Redis or not.
        assert.notEqual((await proxied(server, app)).status, 200);
      } finally {
        redis = await startRedis(redisDir, redis.port);
      }
      // Redis is back with the session in it; the recorded sign-out ends it.
      assert.ok(
        await within(RECOVERY_MS, async () => {
          const res = await request(server.port, 'GET', '/apps', withSession);
          return res.status === 303 && /^\/login/.test(res.headers.location);
        }),
        'the signed-out session no longer opens the portal',
      );
      assert.equal((await proxied(server, app)).status, 401, 'nor the application');
      signedOutApp = app;
    } finally {
      await context.close();
    }
  });

  test('Redis killed under load: no wrong 200, no stall past the timeouts', async (t) => {
    const context = await newContext(browser);
    try {
      const { app } = await signIn(context, server);
      const cookies = {
        live: app,
        anonymous: null,
        forged: randomBytes(32).toString('base64url'),
        ...(signedOutApp ? { signedOut: signedOutApp } : {}),
      };
      const seen = Object.fromEntries(Object.keys(cookies).map((k) => [k, {}]));
      const wrong = [];
      let slowest = 0;
      let running = true;
      const worker = async () => {
        while (running) {
          for (const [kind, cookie] of Object.entries(cookies)) {
            let res;
            try {
              res = await proxied(server, cookie);
            } catch (e) {
              wrong.push(`${kind}: ${e.message}`);
              continue;
            }
            slowest = Math.max(slowest, res.ms);
            seen[kind][res.status] = (seen[kind][res.status] ?? 0) + 1;
            if (kind !== 'live' && res.status === 200) wrong.push(`${kind}: 200 ${res.body.slice(0, 80)}`);
            if (kind === 'live' && res.status === 200 && JSON.parse(res.body).email !== DEMO.email) {
              wrong.push(`live: someone else ${res.body}`);
            }
          }
        }
      };
      const load = Promise.all(Array.from({ length: 3 }, worker));
      try {
        // Under load, Redis dies without warning, stays away past several cache
        // lifetimes, then comes back with its data.
        await within(10_000, () => seen.live[200] >= 5);
        await killRedis(redis, 'SIGKILL');
        const downAt = Date.now();
        await within(15_000, () => Date.now() - downAt > 5_000 && Object.values(seen.anonymous).reduce((a, b) => a + b, 0) > 10);
        redis = await startRedis(redisDir, redis.port);
        const before = seen.live[200] ?? 0;
        assert.ok(await within(RECOVERY_MS, () => (seen.live[200] ?? 0) > before + 5), 'the live session is served again');
      } finally {
        running = false;
        await load;
      }
      t.diagnostic(`answers by cookie and status: ${JSON.stringify(seen)}; slowest ${slowest} ms`);
      assert.deepEqual(wrong, [], 'no wrong 200 and no failed request');
      // A Redis call waits at most its connect plus response timeouts; the acquire
      // timeout bounds the database.
      const bound = 2 * REDIS_TIMEOUT_MS + ACQUIRE_TIMEOUT_MS + SLACK_MS;
      assert.ok(slowest < bound, `slowest request ${slowest} ms, bound ${bound} ms`);
    } finally {
      await context.close();
    }
  });
});

describe('faults: an instance SIGKILLed while a client rotates refresh tokens', { timeout: TEST_TIMEOUT, skip }, () => {
  let pg;
  let rpServer;
  let CB;
  const callbacks = [];
  let servers = [];
  let browser;

  before(async () => {
    pg = startPostgres();
    rpServer = http.createServer((req, res) => {
      // Only the redirect back: Chromium also asks this server for /favicon.ico.
      const u = new URL(req.url, CB);
      if (u.pathname === '/cb') callbacks.push(u);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
    rpServer.listen(0, '127.0.0.1');
    await once(rpServer, 'listening');
    CB = `http://127.0.0.1:${rpServer.address().port}/cb`;
    const extraToml = `
[secrets]
master_key = "${MASTER_KEY}"

[[oidc.clients]]
client_id = "rp"
client_secret_hash = "${sha(RP_SECRET)}"
redirect_uris = ["${CB}"]
application = "Team Wiki"
`;
    const opts = { extraToml, databaseUrl: pg.url, storeToml: `acquire_timeout = "${ACQUIRE_TIMEOUT_MS}ms"` };
    const a = await Server.start('faults-rot-a', opts);
    const b = await Server.start('faults-rot-b', opts);
    servers = [a, b];
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await Promise.all(servers.map((s) => s?.stop()));
    rpServer?.close();
    pg?.stop();
  });

  async function token(server, params) {
    const res = await request(server.port, 'POST', '/oauth2/token', {
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`rp:${RP_SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams(params).toString(),
      timeoutMs: 15_000,
    });
    let json = null;
    try {
      json = JSON.parse(res.body);
    } catch {
      // not JSON: kept as the body
    }
    return { status: res.status, json, body: res.body, ms: res.ms };
  }

  // When A commits the rotation in flight at the kill and dies before answering, the
  // client still holds the parent; B answers it again once (its successor was never
  // used), instead of taking it for a replay and revoking the family.
  test('the newest refresh token the client holds still works (no lost family)', async (t) => {
    const [A, B] = servers;
    const context = await newContext(browser);
    let page;
    try {
      page = await context.newPage();
      await page.goto(`${A.url}/login`);
      await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
      await page.getByRole('button', { name: 'Continue', exact: true }).click();
      await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
      await page.getByRole('button', { name: 'Login', exact: true }).click();
      await page.waitForURL((u) => u.pathname === '/apps');
      const q = new URLSearchParams({ response_type: 'code', client_id: 'rp', redirect_uri: CB, scope: 'openid email', state: 'st' });
      await page.goto(`${A.url}/oauth2/authorize?${q}`);
      assert.ok(await within(30_000, () => callbacks.length > 0), `a code; the browser is at ${page.url()}`);
    } finally {
      await context.close();
    }
    const code = callbacks.at(-1).searchParams.get('code');
    const first = await token(A, { grant_type: 'authorization_code', code, redirect_uri: CB });
    assert.equal(first.status, 200, first.body);

    // The client rotates in a loop, mostly on A, keeping the newest token it was
    // given; A dies mid-rotation; the client goes on at B with what it holds.
    let newest = first.json.refresh_token;
    let rotations = 0;
    const lost = [];
    let killed = false;
    let unanswered = 0;
    const rotate = async (server) => {
      const r = await token(server, { grant_type: 'refresh_token', refresh_token: newest });
      if (r.status === 200) {
        newest = r.json.refresh_token;
        rotations++;
      } else {
        lost.push(`${server.name}: ${r.status} ${r.body.slice(0, 120)}`);
      }
    };
    const loop = (async () => {
      while (!killed) {
        try {
          await rotate(A);
        } catch {
          // A died with the request in flight: the client never got an answer.
          unanswered++;
        }
      }
    })();
    await within(20_000, () => rotations >= 10);
    A.child.kill('SIGKILL');
    killed = true;
    await loop;
    const exit = await A.exited;
    assert.equal(exit.signal, 'SIGKILL');
    t.diagnostic(`${rotations} rotations on A before SIGKILL; ${unanswered} in flight when it died`);
    for (let i = 0; i < 5; i++) await rotate(B);
    assert.deepEqual(lost, [], 'every rotation with the newest token held succeeded');
  });
});
