// Two portcullis instances sharing one Redis (sessions) and one state store: a
// session made on one is valid on the other, and signing out on one reaches the
// other within the session cache's lifetime (1 s). Redis is Debian's redis-server,
// started here on a free port; the test is skipped when it is missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
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

  before(async () => {
    redis = await startRedis();
    const extraToml = `
[sessions]
store = "redis"
redis_url = "redis://127.0.0.1:${redis.port}/0"
`;
    a = await Server.start('redis-a', { extraToml });
    b = await Server.start('redis-b', { extraToml, dataDir: a.dataDir });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await b?.stop();
    await a?.stop();
    redis?.child.kill();
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
    } finally {
      await context.close();
    }
  });
});
