// Two portcullis instances sharing one Redis (sessions) and one state store: a
// session made on one is valid on the other, and signing out on one reaches the
// other's gateway cache at once through Redis pub/sub (the cache lifetime is set to
// a minute here, the most the configuration allows, so only the announcement can explain it). Then Redis is
// stopped: sign-in and uncached sessions fail closed with a clear 503, and after
// Redis is started again on the same port (same append-only file) the same session
// works again without restarting portcullis. Redis is Debian's redis-server,
// started here on a free port; the test is skipped when it is missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { DEMO, Server, freePort, httpsGet, launchBrowser, newContext } from './harness.mjs';

const TEST_TIMEOUT = 300_000;
// Deadlines for conditions awaited below: generous, since a busy machine is slow, and
// still far below what they tell apart (a 60 s cache lifetime; a restart needed to recover).
const REDIS_START_MS = 30_000;
const REVOCATION_MS = 15_000;
const RECOVERY_MS = 30_000;
const REQUEST_MS = 15_000;
const haveRedis = spawnSync('redis-server', ['--version']).status === 0;

/** Whether a Redis server on `port` answers PING with PONG (not just accepts the connection, nor -LOADING). */
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

/**
 * redis-server on `port` keeping its data in `dir` (append-only file), so a restart keeps the
 * sessions. Resolves once it answers PING (its data loaded), within a deadline.
 */
async function startRedis(dir, port) {
  port ??= await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'],
    { stdio: 'ignore' },
  );
  const exited = once(child, 'exit');
  const ready = await within(REDIS_START_MS, () =>
    child.exitCode !== null || child.signalCode !== null ? true : redisAnswers(port),
  );
  if (ready && child.exitCode === null && child.signalCode === null) return { child, port };
  child.kill();
  await exited;
  throw new Error(`redis-server did not answer PING on ${port} within ${REDIS_START_MS} ms`);
}

async function stopRedis(redis) {
  if (redis.child.exitCode !== null || redis.child.signalCode !== null) return;
  const exited = once(redis.child, 'exit');
  redis.child.kill('SIGTERM');
  await exited;
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

/** `httpsGet` with a deadline fit for a busy machine. */
const get = (port, urlPath, options = {}) => httpsGet(port, urlPath, { timeoutMs: REQUEST_MS, ...options });

describe('two instances sharing Redis', { timeout: TEST_TIMEOUT, skip: !haveRedis && 'redis-server is not installed' }, () => {
  let redis;
  let a;
  let b;
  let browser;
  let upstream;
  let redisDir;

  before(async () => {
    upstream = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ email: req.headers['x-portcullis-email'] ?? null }));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const policies = {
      shared: `host = "shared.localhost"\nupstreams = ["127.0.0.1:${upstream.address().port}"]\neveryone = true\n`,
    };
    redisDir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-e2e-redis-'));
    redis = await startRedis(redisDir);
    // Long enough that only the pub/sub announcement can end a cached session in time.
    const gatewayToml = 'session_cache_ttl = "60s"';
    const extraToml = `
[sessions]
store = "redis"
redis_url = "redis://127.0.0.1:${redis.port}/0"
`;
    a = await Server.start('redis-a', { extraToml, gatewayToml, policies });
    b = await Server.start('redis-b', { extraToml, gatewayToml, policies, dataDir: a.dataDir });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await b?.stop();
    await a?.stop();
    if (redis) await stopRedis(redis);
    upstream?.close();
    if (redisDir) await rm(redisDir, { recursive: true, force: true });
  });

  test('a session from one instance works on the other; sign-out crosses within a second', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await page.goto(`${a.url}/login`);
      await page.getByLabel('Email').fill(DEMO.email);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Password').fill(DEMO.password);
      await page.getByRole('button', { name: 'Login' }).click();
      await page.waitForURL((u) => u.pathname === '/apps');

      // Browsers send cookies regardless of port: instance B sees A's session cookie.
      await page.goto(`${b.url}/apps`);
      assert.equal(new URL(page.url()).pathname, '/apps', 'signed in on B with a session made on A');

      // An application cookie obtained through A is honoured by B (links live in Redis).
      await page.goto(`https://shared.localhost:${a.port}/x`);
      await page.waitForURL((u) => u.host === `shared.localhost:${a.port}`);
      const appCookie = (await context.cookies(`https://shared.localhost:${a.port}`)).find(
        (c) => c.name === '__Host-portcullis_app',
      );
      assert.ok(appCookie, 'an application cookie');
      const viaB = await get(b.port, '/x', {
        host: 'shared.localhost',
        headers: { cookie: `__Host-portcullis_app=${appCookie.value}`, accept: 'application/json' },
      });
      assert.equal(viaB.status, 200, viaB.body);
      assert.equal(JSON.parse(viaB.body).email, DEMO.email);
      await page.goto(`${b.url}/apps`);

      const session = (await context.cookies(a.url)).find((c) => c.name === '__Host-portcullis_session');
      assert.ok(session, 'a session cookie');
      const withOld = { headers: { cookie: `__Host-portcullis_session=${session.value}` } };
      assert.equal((await get(a.port, '/apps', withOld)).status, 200);

      // Both gateways have the application session cached (for a minute).
      const viaA = () =>
        get(a.port, '/x', {
          host: 'shared.localhost',
          headers: { cookie: `__Host-portcullis_app=${appCookie.value}`, accept: 'application/json' },
        });
      assert.equal((await viaA()).status, 200);

      await page.getByRole('button', { name: 'Account menu' }).click();
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.waitForURL((u) => u.pathname === '/login');
      // Signed out on B: A's gateway drops its cached copy through the announcement, long
      // before its minute-long cache lifetime would (the deadline allows for a busy machine).
      assert.ok(await within(REVOCATION_MS, async () => (await viaA()).status === 401), 'revocation crossed to A');
      const res = await get(a.port, '/apps', withOld);
      assert.equal(res.status, 303);
      assert.match(res.headers.location, /^\/login/);
      const appAfter = await get(b.port, '/x', {
        host: 'shared.localhost',
        headers: { cookie: `__Host-portcullis_app=${appCookie.value}`, accept: 'application/json' },
      });
      assert.equal(appAfter.status, 401, 'the application cookie died with the portal session');
    } finally {
      await context.close();
    }
  });

  test('Redis stopped: fail closed with a clear error; restarted: recovered without restarting portcullis', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await page.goto(`https://shared.localhost:${a.port}/before`);
      await page.getByLabel('Email').fill(DEMO.email);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Password').fill(DEMO.password);
      await page.getByRole('button', { name: 'Login' }).click();
      await page.waitForURL((u) => u.host === `shared.localhost:${a.port}`);
      const appCookie = (await context.cookies(`https://shared.localhost:${a.port}`)).find(
        (c) => c.name === '__Host-portcullis_app',
      );
      const app = (server, accept = 'application/json') =>
        get(server.port, '/y', {
          host: 'shared.localhost',
          headers: { cookie: `__Host-portcullis_app=${appCookie.value}`, accept },
        });
      assert.equal((await app(a)).status, 200);

      await stopRedis(redis);
      // B never saw this cookie: nothing cached, so it fails closed, clearly.
      const json = await app(b);
      assert.equal(json.status, 503, json.body);
      assert.equal(JSON.parse(json.body).error, 'temporarily_unavailable');
      const html = await app(b, 'text/html');
      assert.equal(html.status, 503);
      assert.match(html.body, /Sign-in is temporarily unavailable/);
      // A new sign-in fails with a clear page, not a crash.
      const other = await newContext(browser);
      try {
        const p2 = await other.newPage();
        await p2.goto(`${b.url}/login`);
        await p2.getByLabel('Email').fill(DEMO.email);
        await p2.getByRole('button', { name: 'Continue' }).click();
        await p2.getByLabel('Password').fill(DEMO.password);
        await p2.getByRole('button', { name: 'Login' }).click();
        await p2.getByText('Sign-in is temporarily unavailable').waitFor();
      } finally {
        await other.close();
      }

      // Redis back on the same port with the same data: the same cookie works
      // again on both instances, and sign-in too, with the same processes.
      redis = await startRedis(redisDir, redis.port);
      assert.ok(await within(RECOVERY_MS, async () => (await app(b)).status === 200), 'B recovered by itself');
      // A sent nothing to Redis while it was away, so its connection is the dead one: its
      // first request must still be answered (the store retries once on a new connection).
      const first = await app(a);
      assert.equal(first.status, 200, `A's first request after Redis came back: ${first.body}`);
      assert.equal(a.child.exitCode, null, 'A never restarted');
      assert.equal(b.child.exitCode, null, 'B never restarted');
      assert.doesNotMatch(a.log + b.log, /panicked/);
    } catch (error) {
      error.message += `\n  A log tail:\n${a.logTail(2_000)}\n  B log tail:\n${b.logTail(2_000)}`;
      throw error;
    } finally {
      await context.close();
    }
  });
});
