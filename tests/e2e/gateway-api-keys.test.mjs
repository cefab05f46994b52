// End-to-end test of personal API keys through the gateway (issue 21, Part 1):
// the real binary, a real upstream (a small node server echoing the headers it got),
// curl as the script's HTTP client, and keys made on the Security page in Chromium.
// Policies: `tools` and `other` accept keys (`api = { api_keys = true }`), `tools` has
// a step-up path; `closed` accepts keys but admits a group the demo user is not in;
// `plain` does not accept keys at all.
// Refusals are waited for as conditions (the gateway's cache TTL is 1 s here), never
// with a fixed sleep.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO, Server, launchBrowser, newContext } from './harness.mjs';

const TEST_TIMEOUT = 120_000;
/** How long a refusal may take to reach the gateway: its cache TTL (1 s) and margin. */
const WITHIN_MS = 10_000;

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

describe('gateway API keys', { timeout: TEST_TIMEOUT }, () => {
  let server;
  let upstream;
  let browser;
  let page;
  /** What the upstream saw last: its request headers. */
  let seen = null;
  const keys = {};

  /** One request with curl: {status, headers (lower-case), body}. */
  async function curl(host, urlPath, args = []) {
    const out = await run('curl', [
      '-sk', '-i', '--max-time', '10',
      '--resolve', `${host}:${server.port}:127.0.0.1`,
      ...args,
      `https://${host}:${server.port}${urlPath}`,
    ]);
    const [head, ...rest] = out.split('\r\n\r\n');
    const [statusLine, ...lines] = head.split('\r\n');
    const headers = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    return { status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
  }
  const bearer = (key) => ['-H', `Authorization: Bearer ${key}`, '-H', 'Accept: application/json'];
  const basic = (key) => ['-u', `anyone:${key}`, '-H', 'Accept: application/json'];

  /** Repeats `probe` until `ok(result)`, within WITHIN_MS. */
  async function eventually(probe, ok, what) {
    const deadline = Date.now() + WITHIN_MS;
    let last;
    for (;;) {
      last = await probe();
      if (ok(last)) return last;
      if (Date.now() > deadline) assert.fail(`${what}: still ${last.status} ${last.body}`);
      await sleep(100);
    }
  }

  async function clickAndLoad(locator) {
    const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
    await locator.click();
    await navigated;
    await page.waitForLoadState('load');
  }

  /** Generates a key on the Security page, optionally limited to applications (by name). */
  async function makeKey(name, apps = []) {
    await page.goto(`${server.url}/security`);
    await page.getByLabel('Name', { exact: true }).fill(name);
    for (const app of apps) await page.getByLabel(app, { exact: true }).check();
    await clickAndLoad(page.getByRole('button', { name: 'Generate API key' }));
    return (await page.locator('#new-api-key').textContent()).trim();
  }

  before(async () => {
    upstream = http.createServer((req, res) => {
      seen = req.headers;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url }));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const addr = `127.0.0.1:${upstream.address().port}`;
    const policy = (name, host, extra) =>
      `name = "${name}"\nhost = "${host}"\nupstreams = ["${addr}"]\n${extra}\n`;
    server = await Server.start('gateway-api-keys', {
      policies: {
        tools: policy('Tools', 'tools.localhost', `everyone = true
api = { api_keys = true }
paths = [{ prefix = "/admin", access = "mfa" }]
mfa = { max_age = "5m" }`),
        other: policy('Other Tool', 'other.localhost', 'everyone = true\napi = { api_keys = true }'),
        closed: policy('Closed', 'closed.localhost', 'groups = ["Key Test Nobody"]\napi = { api_keys = true }'),
        plain: policy('Plain', 'plain.localhost', 'everyone = true'),
      },
    });
    browser = await launchBrowser();
    page = await (await newContext(browser)).newPage();
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
    await clickAndLoad(page.getByRole('button', { name: 'Continue', exact: true }));
    await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
    await clickAndLoad(page.getByRole('button', { name: 'Login', exact: true }));
    // The choice lists the user's applications that accept keys, and only those.
    await page.goto(`${server.url}/security`);
    const offered = await page.locator('input[type=checkbox][name^="app."]').evaluateAll(
      (els) => els.map((e) => e.labels[0]?.textContent.trim()),
    );
    assert.deepEqual(offered.sort(), ['Other Tool', 'Tools']);
    keys.main = await makeKey('main');
    keys.revoked = await makeKey('to revoke');
    keys.expired = await makeKey('to expire');
    keys.scoped = await makeKey('other only', ['Other Tool']);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    upstream?.close();
  });

  test('a key over Bearer and over Basic reaches the application as its owner', async () => {
    for (const how of [bearer, basic]) {
      seen = null;
      const res = await curl('tools.localhost', '/reports', [
        ...how(keys.main),
        // Forged: the gateway owns this header and sets it itself.
        '-H', 'X-Portcullis-Credential: api-key:someone-else',
        '-H', 'X_Portcullis_User: mallory',
      ]);
      assert.equal(res.status, 200, res.body);
      assert.equal(seen['x-portcullis-email'], DEMO.email);
      assert.ok(seen['x-portcullis-user'] && seen['x-portcullis-user'] !== 'mallory');
      assert.ok(seen['x-portcullis-assertion'], 'the signed assertion as for a cookie');
      assert.match(seen['x-portcullis-credential'], /^api-key:[^ ,]+$/);
      assert.notEqual(seen['x-portcullis-credential'], 'api-key:someone-else');
      assert.equal(seen.authorization, undefined, 'the key never reaches the upstream');
      assert.equal(seen['x_portcullis_user'], undefined);
    }
  });

  test('made-up, malformed and non-key bearer values get 401 invalid_token', async () => {
    for (const value of [`pcl_${'A'.repeat(43)}`, 'pcl_short', 'eyJhbGciOiJub25lIn0.e30.']) {
      const res = await curl('tools.localhost', '/reports', bearer(value));
      assert.equal(res.status, 401, value);
      assert.deepEqual(JSON.parse(res.body), { error: 'invalid_token' });
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="portcullis", error="invalid_token"');
    }
    // No key at all: the cookie path, as before.
    const res = await curl('tools.localhost', '/reports', ['-H', 'Accept: application/json']);
    assert.equal(res.status, 401);
    assert.equal(JSON.parse(res.body).error, 'unauthenticated');
  });

  test('the access decision applies: scope, groups and step-up', async () => {
    const scopedOk = await curl('other.localhost', '/', bearer(keys.scoped));
    assert.equal(scopedOk.status, 200, scopedOk.body);
    const outside = await curl('tools.localhost', '/', bearer(keys.scoped));
    assert.equal(outside.status, 403);
    assert.deepEqual(JSON.parse(outside.body), { error: 'forbidden' });
    const group = await curl('closed.localhost', '/', bearer(keys.main));
    assert.equal(group.status, 403);
    assert.deepEqual(JSON.parse(group.body), { error: 'forbidden' });
    const stepUp = await curl('tools.localhost', '/admin/users', bearer(keys.main));
    assert.equal(stepUp.status, 403);
    assert.deepEqual(JSON.parse(stepUp.body), { error: 'mfa_required' });
  });

  test('a policy without api_keys ignores the key: the cookie path, and the key is not forwarded', async () => {
    const res = await curl('plain.localhost', '/', bearer(keys.main));
    assert.equal(res.status, 401);
    assert.equal(JSON.parse(res.body).error, 'unauthenticated');
    const nav = await curl('plain.localhost', '/', ['-H', `Authorization: Bearer ${keys.main}`]);
    assert.equal(nav.status, 302, 'a navigation is sent to sign in');
    // Signed in with the cookie, a key sent along still never reaches the upstream;
    // someone else's credential passes as before.
    await page.goto(`https://plain.localhost:${server.port}/`);
    await page.waitForURL((u) => u.host === `plain.localhost:${server.port}`);
    const fetched = (authorization) =>
      page.evaluate(async (a) => (await fetch('/x', { headers: { Authorization: a } })).status, authorization);
    assert.equal(await fetched(`Bearer ${keys.main}`), 200);
    assert.equal(seen['x-portcullis-email'], DEMO.email);
    assert.equal(seen.authorization, undefined);
    assert.equal(seen['x-portcullis-credential'], undefined, 'a cookie is no key');
    assert.equal(await fetched('Basic bWU6aHVudGVyMg=='), 200);
    assert.equal(seen.authorization, 'Basic bWU6aHVudGVyMg==');
  });

  test('a revoked key stops within the cache TTL', async () => {
    assert.equal((await curl('tools.localhost', '/', bearer(keys.revoked))).status, 200);
    await page.goto(`${server.url}/security`);
    await clickAndLoad(page.getByRole('row', { name: /to revoke/ }).getByRole('button', { name: 'Revoke' }));
    await clickAndLoad(page.getByRole('button', { name: 'Revoke API key' }));
    const res = await eventually(() => curl('tools.localhost', '/', bearer(keys.revoked)), (r) => r.status === 401, 'revoked key');
    assert.deepEqual(JSON.parse(res.body), { error: 'invalid_token' });
  });

  test('an expired key stops within the cache TTL', async () => {
    assert.equal((await curl('tools.localhost', '/', bearer(keys.expired))).status, 200);
    // No test clock in the binary: the key's end is moved into the past in the store.
    await run('sqlite3', [
      path.join(server.dataDir, 'portcullis.db'),
      "UPDATE api_keys SET expires_at = CAST(strftime('%s','now') AS INTEGER) - 1 WHERE name = 'to expire'",
    ]);
    await eventually(() => curl('tools.localhost', '/', bearer(keys.expired)), (r) => r.status === 401, 'expired key');
  });

  test('locking the owner with the admin CLI stops every key within the cache TTL', async () => {
    assert.equal((await curl('tools.localhost', '/', basic(keys.main))).status, 200);
    await server.adminOk('users', 'lock', DEMO.email);
    for (const key of [keys.main, keys.scoped]) {
      const host = key === keys.scoped ? 'other.localhost' : 'tools.localhost';
      await eventually(() => curl(host, '/', bearer(key)), (r) => r.status === 401, 'locked owner');
    }
  });
});
