// End-to-end test of a policy's session idle override (issue 5, `session = { idle = "1m" }`)
// against the real binary, with Debian's Chromium and a plain HTTPS client.
// Two applications share one small upstream: `vault` with the override, `docs` without.
// Leaving: an application cookie unused for longer than the override admits nobody
// (navigation goes back through the handshake, JSON clients get 401) while the other
// application stays reachable without a password. Entering: the portal hands the
// override's application a code only for a sign-in younger than the override, and asks
// for the password again (email filled in) otherwise, then continues without a loop.
//
// There is no test clock (no backdoor in the binary): the test waits once, a little over
// the one-minute override, and every expiry check comes after that single wait.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO, Server, httpsGet, launchBrowser, newContext, screenshot } from './harness.mjs';

const TEST_TIMEOUT = 240_000;
/** The override in the test policy, and the wait that outlasts it (second granularity). */
const IDLE_MS = 60_000;
const WAIT_MS = IDLE_MS + 2_500;

async function clickAndLoad(page, locator) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await locator.click();
  await navigated;
  await page.waitForLoadState('load');
}

describe('gateway session idle override', { timeout: TEST_TIMEOUT }, () => {
  let browser;
  let server;
  let upstream;

  before(async () => {
    upstream = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, email: req.headers['x-portcullis-email'] ?? null }));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const addr = `127.0.0.1:${upstream.address().port}`;
    server = await Server.start('gateway-idle', {
      policies: {
        vault: `name = "Vault"
host = "vault.localhost"
upstreams = ["${addr}"]
everyone = true
session = { idle = "1m" }
`,
        docs: `name = "Docs"
host = "docs.localhost"
upstreams = ["${addr}"]
everyone = true
`,
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    upstream?.close();
  });

  const onHost = (host) => (u) => u.host === `${host}:${server.port}`;
  const onPortal = (pathname) => (u) => u.host === `portal.localhost:${server.port}` && u.pathname === pathname;

  /** The portal's sign-in form, from whatever step the page is on, ending where it sends us. */
  async function signIn(page, { prefilled = false } = {}) {
    const email = page.getByLabel('Email', { exact: true });
    if (prefilled) assert.equal(await email.inputValue(), DEMO.email, 'the email is filled in');
    else await email.fill(DEMO.email);
    await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
    await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
    await page.getByRole('button', { name: 'Login', exact: true }).click();
  }

  async function echoed(page) {
    return JSON.parse(await page.locator('body').innerText());
  }

  async function appCookie(context, host) {
    const cookies = await context.cookies(server.appUrl(host, '/'));
    return cookies.find((c) => c.name.endsWith('portcullis_app'))?.value;
  }

  test('a cookie unused beyond the override admits nobody; entering needs a recent sign-in', async () => {
    // A: signs in at the portal, then enters both applications without a password.
    const a = await newContext(browser);
    // B: signs in at the portal and uses only docs before the wait.
    const b = await newContext(browser);
    const pa = await a.newPage();
    const pb = await b.newPage();
    let current = pa;
    try {
      await pa.goto(`${server.url}/login`);
      await signIn(pa);
      await pa.waitForURL(onPortal('/apps'));

      // Entering with a fresh sign-in: silent, straight to the application.
      await pa.goto(server.appUrl('vault.localhost', '/first'));
      await pa.waitForURL(onHost('vault.localhost'));
      assert.equal((await echoed(pa)).email, DEMO.email);
      await pa.goto(server.appUrl('docs.localhost', '/first'));
      await pa.waitForURL(onHost('docs.localhost'));
      assert.equal((await echoed(pa)).email, DEMO.email);

      // A JSON client with A's vault cookie is admitted while the cookie is in use.
      const vaultCookie = await appCookie(a, 'vault.localhost');
      assert.ok(vaultCookie, 'the handshake gave vault its own cookie');
      const json = (cookie) =>
        httpsGet(server.port, '/api', {
          host: 'vault.localhost',
          headers: { cookie: `__Host-portcullis_app=${cookie}`, accept: 'application/json' },
        });
      const inUse = await json(vaultCookie);
      assert.equal(inUse.status, 200, inUse.body);

      current = pb;
      await pb.goto(`${server.url}/login`);
      await signIn(pb);
      await pb.waitForURL(onPortal('/apps'));
      await pb.goto(server.appUrl('docs.localhost', '/'));
      await pb.waitForURL(onHost('docs.localhost'));

      // Nobody uses vault for longer than its override (the only wait in this file).
      await sleep(WAIT_MS);

      // Leaving, for a JSON client: 401 as without any session.
      const idle = await json(vaultCookie);
      assert.equal(idle.status, 401, idle.body);
      assert.equal(JSON.parse(idle.body).error, 'unauthenticated');

      // The application without the override, at the same moment: still reachable.
      current = pa;
      const docs = await pa.goto(server.appUrl('docs.localhost', '/after'));
      assert.equal(docs.status(), 200);
      assert.deepEqual(await echoed(pa), { path: '/after', email: DEMO.email });

      // Leaving, for a browser: through the handshake to the password form, email
      // filled in, then on to the original URL; a new cookie, and no second prompt.
      await pa.goto(server.appUrl('vault.localhost', '/again?x=1'));
      await pa.waitForURL(onPortal('/login'));
      const login = new URL(pa.url());
      assert.equal(login.searchParams.get('change'), '1');
      assert.equal(login.searchParams.get('login_hint'), DEMO.email);
      await screenshot(pa, 'gateway-idle-01-password-again');
      await signIn(pa, { prefilled: true });
      await pa.waitForURL(onHost('vault.localhost'));
      assert.deepEqual(await echoed(pa), { path: '/again?x=1', email: DEMO.email });
      const renewed = await appCookie(a, 'vault.localhost');
      assert.ok(renewed && renewed !== vaultCookie, 'a new application cookie');
      assert.equal((await json(vaultCookie)).status, 401, 'the idle cookie stays refused');
      assert.equal((await json(renewed)).status, 200, 'the new one admits');
      const back = await pa.goto(server.appUrl('vault.localhost', '/next'));
      assert.equal(back.status(), 200);
      assert.equal((await echoed(pa)).path, '/next', 'in use again: no prompt');

      // Entering with an old sign-in (B never used vault): the password first.
      current = pb;
      await pb.goto(server.appUrl('vault.localhost', '/enter'));
      await pb.waitForURL(onPortal('/login'));
      await signIn(pb, { prefilled: true });
      await pb.waitForURL(onHost('vault.localhost'));
      assert.equal((await echoed(pb)).path, '/enter');
      await screenshot(pb, 'gateway-idle-02-entered');
    } catch (error) {
      const text = await current.locator('body').innerText({ timeout: 2_000 }).catch(() => '');
      await screenshot(current, 'gateway-idle-FAILED').catch(() => {});
      error.message += `\n  at ${current.url()} showing "${text.replace(/\s+/g, ' ').slice(0, 300)}"` +
        `\n  server log tail:\n${server.logTail()}`;
      throw error;
    } finally {
      await a.close();
      await b.close();
    }
  });
});
