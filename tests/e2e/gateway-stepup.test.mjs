// End-to-end step-up through the gateway (issue 5): a signed-in user with an
// authenticator app opens a path whose policy needs a recent second factor, is sent
// to the portal's "Verify Your Identity" page, enters a TOTP code computed by Debian's
// oathtool (independent of our implementation), and lands back on the original URL
// with access; the signed assertion then carries `otp`. A wrong code keeps the
// browser on the step-up page with an error and no access. A second application whose
// policy lists only `headers = ["email"]` receives that header and no other identity.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { decodeJwt } from 'jose';
import { DEMO, Server, launchBrowser, newContext, screenshot } from './harness.mjs';

const TEST_TIMEOUT = 300_000;

/** The TOTP code for `key` at `offset` seconds from now, computed by oathtool. */
function oath(key, offset = 0) {
  const at = Math.floor(Date.now() / 1000) + offset;
  return execFileSync('oathtool', ['--totp', '-b', key, '-N', `@${at}`]).toString().trim();
}

async function clickAndLoad(page, locator) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await locator.click();
  await navigated;
  await page.waitForLoadState('load');
}

describe('gateway step-up with a TOTP code', { timeout: TEST_TIMEOUT }, () => {
  let browser;
  let server;
  let upstream;

  before(async () => {
    upstream = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, headers: req.headers }));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    server = await Server.start('gateway-stepup', {
      policies: {
        vault: `name = "Vault"
host = "vault.localhost"
upstreams = ["127.0.0.1:${upstream.address().port}"]
groups = ["Staff"]
mfa = { max_age = "5m", methods = ["otp"] }
paths = [{ prefix = "/secret", access = "mfa" }]
`,
        mini: `host = "mini.localhost"
upstreams = ["127.0.0.1:${upstream.address().port}"]
headers = ["email"]
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

  test('stale MFA: step-up page, wrong code refused, right code lands back with access', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    const echoed = async () => JSON.parse(await page.locator('body').innerText());
    try {
      // Signed in with a password only, through the application.
      await page.goto(server.appUrl('vault.localhost', '/'));
      await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
      await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
      await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
      await page.getByRole('button', { name: 'Login', exact: true }).click();
      await page.waitForURL((u) => u.host === `vault.localhost:${server.port}`);
      assert.equal((await echoed()).path, '/');
      const full = (await echoed()).headers;
      for (const h of ['user', 'email', 'groups', 'assertion']) assert.ok(full[`x-portcullis-${h}`], `${h} by default`);

      // Only the headers a policy lists reach its application.
      await page.goto(server.appUrl('mini.localhost', '/'));
      await page.waitForURL((u) => u.host === `mini.localhost:${server.port}`);
      const mini = (await echoed()).headers;
      assert.equal(mini['x-portcullis-email'], DEMO.email);
      for (const h of ['user', 'groups', 'assertion']) assert.equal(mini[`x-portcullis-${h}`], undefined, `${h} not listed`);

      // An authenticator app, enrolled on the Security page.
      await page.goto(`${server.url}/security`);
      await clickAndLoad(page, page.getByRole('link', { name: 'Set up authenticator app' }));
      await clickAndLoad(page, page.getByRole('button', { name: 'I Have An App' }));
      const key = (await page.locator('#totp-key').innerText()).trim().replace(/\s+/g, '');
      await clickAndLoad(page, page.getByRole('link', { name: 'Next' }));
      await page.getByLabel('Code shown in your app').fill(oath(key));
      await clickAndLoad(page, page.getByRole('button', { name: 'Activate' }));
      await page.getByText('Authenticator app set up.').waitFor();

      // The MFA path: sent to the portal to verify, not to the upstream.
      await page.goto(server.appUrl('vault.localhost', '/secret/report?q=1'));
      await page.waitForURL((u) => u.host === `portal.localhost:${server.port}` && u.pathname === '/login/mfa/totp');
      await page.getByRole('heading', { name: 'Verify Your Identity' }).waitFor();
      await screenshot(page, 'gateway-stepup-01-verify');

      // A wrong code: an error, still on the portal, no access.
      await page.getByLabel('Code from your authenticator app').fill(oath(key, -3600));
      await clickAndLoad(page, page.getByRole('button', { name: 'Verify' }));
      assert.match(await page.getByRole('alert').innerText(), /That code is not correct/);
      assert.equal(new URL(page.url()).host, `portal.localhost:${server.port}`);

      // The right code (the enrolment spent the current step): back at the original URL.
      await page.getByLabel('Code from your authenticator app').fill(oath(key, 30));
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.waitForURL((u) => u.host === `vault.localhost:${server.port}` && u.pathname === '/secret/report');
      const seen = await echoed();
      assert.equal(seen.path, '/secret/report?q=1', 'the original URL, query included');
      assert.equal(seen.headers['x-portcullis-email'], DEMO.email);
      const claims = decodeJwt(seen.headers['x-portcullis-assertion']);
      assert.ok(claims.amr.includes('otp'), `amr ${claims.amr}`);
      await screenshot(page, 'gateway-stepup-02-access');
    } catch (error) {
      const text = await page.locator('body').innerText({ timeout: 2_000 }).catch(() => '');
      await screenshot(page, 'gateway-stepup-FAILED').catch(() => {});
      error.message += `\n  at ${page.url()} showing "${text.replace(/\s+/g, ' ').slice(0, 300)}"` +
        `\n  server log tail:\n${server.logTail()}`;
      throw error;
    } finally {
      await context.close();
    }
  });
});
