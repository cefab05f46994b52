// Two portcullis instances sharing one Redis (sessions) and one state store: a
// session made on one is valid on the other, and signing out on one reaches the
// other within the session cache's lifetime (1 s). Redis is Debian's redis-server,
// started here on a free port; the test is skipped when it is missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import { DEMO, Server, freePort, httpsGet, launchBrowser, newContext } from './harness.mjs';

const TEST_TIMEOUT = 300_000;
const haveRedis = spawnSync('redis-server', ['--version']).status === 0;

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

describe('two instances sharing Redis', { timeout: TEST_TIMEOUT, skip: !haveRedis && 'redis-server is not installed' }, () => {
  let redis;
  let a;
  let b;
  let browser;
  let upstream;

  before(async () => {
    upstream = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ email: req.headers['x-portcullis-email'] ?? null }));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const policies = {
      shared: `host = "shared.localhost"\nupstreams = ["127.0.0.1:${upstream.address().port}"]\n`,
    };
    redis = await startRedis();
    const extraToml = `
[sessions]
store = "redis"
redis_url = "redis://127.0.0.1:${redis.port}/0"
`;
    a = await Server.start('redis-a', { extraToml, policies });
    b = await Server.start('redis-b', { extraToml, policies, dataDir: a.dataDir });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await b?.stop();
    await a?.stop();
    redis?.child.kill();
    upstream?.close();
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
      const viaB = await httpsGet(b.port, '/x', {
        host: 'shared.localhost',
        headers: { cookie: `__Host-portcullis_app=${appCookie.value}`, accept: 'application/json' },
      });
      assert.equal(viaB.status, 200, viaB.body);
      assert.equal(JSON.parse(viaB.body).email, DEMO.email);
      await page.goto(`${b.url}/apps`);

      const session = (await context.cookies(a.url)).find((c) => c.name === '__Host-portcullis_session');
      assert.ok(session, 'a session cookie');
      const withOld = { headers: { cookie: `__Host-portcullis_session=${session.value}` } };
      assert.equal((await httpsGet(a.port, '/apps', withOld)).status, 200);

      await page.getByRole('button', { name: 'Account menu' }).click();
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.waitForURL((u) => u.pathname === '/login');
      // The old cookie, replayed on the other instance, no longer works.
      await sleep(1_200);
      const res = await httpsGet(a.port, '/apps', withOld);
      assert.equal(res.status, 303);
      assert.match(res.headers.location, /^\/login/);
      const appAfter = await httpsGet(b.port, '/x', {
        host: 'shared.localhost',
        headers: { cookie: `__Host-portcullis_app=${appCookie.value}`, accept: 'application/json' },
      });
      assert.equal(appAfter.status, 401, 'the application cookie died with the portal session');
    } finally {
      await context.close();
    }
  });
});
