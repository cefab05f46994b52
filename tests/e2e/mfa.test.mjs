// End-to-end tests of multi-factor sign-in: the real binary, Debian's Chromium, TOTP codes
// from Debian's oathtool (independent of our implementation). Screenshots of the enrolment
// steps, the chooser and the forced enrolment land in tests/e2e/artifacts/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { DEMO, Server, launchBrowser, newContext, screenshot } from './harness.mjs';

const TEST_TIMEOUT = 300_000;
let browser;

const pathOf = (page) => new URL(page.url()).pathname;

/** The TOTP code for `key` at `offset` seconds from now, computed by oathtool. */
function oath(key, offset = 0) {
  const at = Math.floor(Date.now() / 1000) + offset;
  return execFileSync('oathtool', ['--totp', '-b', key, '-N', `@${at}`]).toString().trim();
}

async function clickAndLoad(page, locator) {
  const navigated = page.waitForEvent('framenavigated', {
    predicate: (frame) => frame === page.mainFrame(),
  });
  await locator.click();
  await navigated;
  await page.waitForLoadState('load');
}

async function withServer(name, fn, options = {}) {
  const server = await Server.start(name, options);
  const contexts = [];
  let shots = 0;
  const open = async () => {
    const context = await newContext(browser);
    contexts.push(context);
    return context.newPage();
  };
  const shot = (page, label) => screenshot(page, `${name}-${String(++shots).padStart(2, '0')}-${label}`);
  try {
    await fn({ server, open, shot });
  } catch (error) {
    const where = [];
    for (const context of contexts) {
      for (const page of context.pages()) {
        where.push(page.url());
        await screenshot(page, `${name}-FAILED-${where.length}`).catch(() => {});
      }
    }
    error.message += `\n  pages: ${where.join(' | ')}\n  server log tail:\n${server.logTail()}`;
    throw error;
  } finally {
    for (const context of contexts) await context.close().catch(() => {});
    await server.stop();
  }
}

/** Email and password steps; leaves the page wherever the portal sends it next. */
async function passwordSteps(page, server, email = DEMO.email, password = DEMO.password) {
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
  await page.getByLabel('Password', { exact: true }).fill(password);
  await clickAndLoad(page, page.getByRole('button', { name: 'Login', exact: true }));
}

/** The three TOTP enrolment steps from step 1; returns the key read from the page. */
async function enrolTotp(page, shot) {
  await page.getByRole('heading', { name: 'Set Up Verification Code (TOTP)' }).waitFor();
  await shot(page, 'totp-step1');
  await clickAndLoad(page, page.getByRole('button', { name: 'I Have An App' }));
  const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
  await qr.waitFor();
  assert.ok((await qr.getAttribute('src')).startsWith('data:image/png;base64,'), 'QR code is inline');
  const box = await qr.boundingBox();
  assert.ok(box.width > 100, 'the QR code is rendered');
  const key = (await page.locator('#totp-key').innerText()).trim();
  assert.match(key, /^[A-Z2-7]{32}$/);
  await shot(page, 'totp-step2-qr');
  await clickAndLoad(page, page.getByRole('link', { name: 'Next' }));
  // A wrong code first: refused, still on step 3.
  await page.getByLabel('Code shown in your app').fill(oath(key, -3600));
  await clickAndLoad(page, page.getByRole('button', { name: 'Activate' }));
  assert.match(await page.getByRole('alert').innerText(), /That code did not match/);
  await shot(page, 'totp-step3-wrong');
  await page.getByLabel('Code shown in your app').fill(oath(key));
  await clickAndLoad(page, page.getByRole('button', { name: 'Activate' }));
  return key;
}

describe('multi-factor authentication', () => {
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test('TOTP enrolment from Security, then sign-in through Verify Your Identity', { timeout: TEST_TIMEOUT }, async () => {
    await withServer('mfa-totp', async ({ server, open, shot }) => {
      const page = await open();
      await passwordSteps(page, server);
      assert.equal(pathOf(page), '/apps');
      await page.goto(`${server.url}/security`);
      await clickAndLoad(page, page.getByRole('link', { name: 'Set up authenticator app' }));
      const key = await enrolTotp(page, shot);
      assert.equal(pathOf(page), '/security');
      await page.getByText('Authenticator app set up.').waitFor();
      await clickAndLoad(page, page.getByRole('button', { name: 'Create recovery codes' }));
      const codes = await page.locator('#recovery-codes code').allInnerTexts();
      assert.equal(codes.length, 10);
      await page.getByText('10 unused recovery codes.').waitFor();
      await shot(page, 'security-recovery-codes');

      // A second browser: password, then the chooser with both methods.
      const other = await open();
      await passwordSteps(other, server);
      assert.equal(pathOf(other), '/login/mfa');
      await other.getByRole('heading', { name: 'Verify Your Identity' }).waitFor();
      await shot(other, 'chooser');
      for (const path of ['/apps', '/security']) {
        await other.goto(`${server.url}${path}`);
        assert.equal(pathOf(other), '/login/mfa', `${path} is out of reach before the second factor`);
      }
      await clickAndLoad(other, other.getByRole('link', { name: /Authenticator app/ }));
      await other.getByLabel('Code from your authenticator app').fill(oath(key, -3600));
      await clickAndLoad(other, other.getByRole('button', { name: 'Verify' }));
      assert.match(await other.getByRole('alert').innerText(), /That code is not correct/);
      await shot(other, 'totp-wrong-code');
      const code = oath(key, 30); // the enrolment spent the current step
      await other.getByLabel('Code from your authenticator app').fill(code);
      await clickAndLoad(other, other.getByRole('button', { name: 'Verify' }));
      assert.equal(pathOf(other), '/apps');
      await other.getByRole('heading', { name: 'Applications', exact: true }).waitFor();

      // The same code in a third browser: a replay, refused.
      const third = await open();
      await passwordSteps(third, server);
      await clickAndLoad(third, third.getByRole('link', { name: /Authenticator app/ }));
      await third.getByLabel('Code from your authenticator app').fill(code);
      await clickAndLoad(third, third.getByRole('button', { name: 'Verify' }));
      assert.match(await third.getByRole('alert').innerText(), /already used/);
      // A recovery code instead.
      await clickAndLoad(third, third.getByRole('link', { name: 'Use another method' }));
      await clickAndLoad(third, third.getByRole('link', { name: /Recovery code/ }));
      await third.getByLabel('Recovery code').fill(codes[0]);
      await shot(third, 'recovery-code');
      await clickAndLoad(third, third.getByRole('button', { name: 'Verify' }));
      assert.equal(pathOf(third), '/apps');
      await third.goto(`${server.url}/security`);
      await third.getByText('9 unused recovery codes.').waitFor();
    });
  });

  test('forced enrolment under a required policy', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(
      'mfa-forced',
      async ({ server, open, shot }) => {
        const page = await open();
        await passwordSteps(page, server);
        assert.equal(pathOf(page), '/mfa/totp/setup');
        await page.getByText('Your organization requires a second sign-in step.').waitFor();
        await shot(page, 'forced-enrolment');
        for (const path of ['/apps', '/profile', '/security']) {
          await page.goto(`${server.url}${path}`);
          assert.equal(pathOf(page), '/mfa/totp/setup', `${path} is out of reach until enrolled`);
        }
        await enrolTotp(page, shot);
        assert.equal(pathOf(page), '/apps');

        // An administrator resets the factors: the next sign-in enrols again.
        await server.adminOk('users', 'reset-mfa', DEMO.email);
        const audit = await server.adminOk('audit', '--limit', '20');
        assert.match(audit.stdout, /admin\.user\.reset_mfa/);
        const again = await open();
        await passwordSteps(again, server);
        assert.equal(pathOf(again), '/mfa/totp/setup');

        // This time with a security key instead of an app.
        const cdp = await again.context().newCDPSession(again);
        await cdp.send('WebAuthn.enable');
        await cdp.send('WebAuthn.addVirtualAuthenticator', {
          options: {
            protocol: 'ctap2',
            transport: 'usb',
            hasResidentKey: true,
            hasUserVerification: true,
            isUserVerified: true,
            automaticPresenceSimulation: true,
          },
        });
        await again.getByLabel('Security key name').fill('Forced key');
        await shot(again, 'forced-enrolment-key');
        await Promise.all([
          again.waitForURL(/\/apps$/),
          again.getByRole('button', { name: 'Register security key' }).click(),
        ]);
        await again.getByRole('heading', { name: 'Applications', exact: true }).waitFor();
      },
      { extraToml: '\n[mfa]\npolicy = "required"\n' },
    );
  });

  test('WebAuthn: register a key, second factor, passkey login, re-verification', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(
      'mfa-webauthn',
      async ({ server, open, shot }) => {
        const page = await open();
        // Chromium's virtual authenticator: a resident-key capable CTAP2 key that
        // verifies the user (as a PIN or fingerprint would) without a person.
        const cdp = await page.context().newCDPSession(page);
        await cdp.send('WebAuthn.enable');
        await cdp.send('WebAuthn.addVirtualAuthenticator', {
          options: {
            protocol: 'ctap2',
            transport: 'usb',
            hasResidentKey: true,
            hasUserVerification: true,
            isUserVerified: true,
            automaticPresenceSimulation: true,
          },
        });
        const logOut = async () => {
          await page.getByRole('button', { name: 'Account menu' }).click();
          await clickAndLoad(page, page.getByRole('button', { name: 'Log out' }));
          assert.equal(pathOf(page), '/login');
        };

        await passwordSteps(page, server);
        assert.equal(pathOf(page), '/apps');
        await page.goto(`${server.url}/security#mfa`);
        await page.getByLabel('Security key name').fill('Virtual key');
        await Promise.all([
          page.waitForURL(/\/security\?done=key-added/),
          page.getByRole('button', { name: 'Register security key' }).click(),
        ]);
        await page.getByText('Security key added.').waitFor();
        await page.getByRole('rowheader', { name: 'Virtual key' }).waitFor();
        await shot(page, 'security-key-registered');

        // Second factor after the password: one method, so straight to it.
        await logOut();
        await passwordSteps(page, server);
        assert.equal(pathOf(page), '/login/mfa/webauthn');
        await page.getByRole('heading', { name: 'Verify Your Identity' }).waitFor();
        await shot(page, 'security-key-verify');
        await Promise.all([
          page.waitForURL(/\/apps$/),
          page.getByRole('button', { name: 'Use security key' }).click(),
        ]);
        await page.getByRole('heading', { name: 'Applications', exact: true }).waitFor();

        // Passwordless: the passkey alone, from the first sign-in page.
        await logOut();
        await shot(page, 'login-with-passkey');
        await Promise.all([
          page.waitForURL(/\/apps$/),
          page.getByRole('button', { name: 'Log in with passkey' }).click(),
        ]);
        await page.getByRole('heading', { name: 'Applications', exact: true }).waitFor();
        await page.goto(`${server.url}/security#mfa`);
        assert.notEqual(
          await page.getByRole('row', { name: /Virtual key/ }).innerText(),
          '',
          'the key is listed',
        );
        assert.doesNotMatch(await page.getByRole('row', { name: /Virtual key/ }).innerText(), /Never/);

        // Within the interval the passkey is not asked again; after it, it is.
        await page.goto(`${server.url}/apps`);
        assert.equal(pathOf(page), '/apps');
        await new Promise((resolve) => setTimeout(resolve, 11_000));
        await page.goto(`${server.url}/apps`);
        assert.equal(pathOf(page), '/login');
        await page.getByText('Verify with it again to continue.').waitFor();
        await shot(page, 'passkey-reverify');
        await Promise.all([
          page.waitForURL(/\/apps$/),
          page.getByRole('button', { name: 'Log in with passkey' }).click(),
        ]);
        await page.getByRole('heading', { name: 'Applications', exact: true }).waitFor();
      },
      { extraToml: '\n[mfa]\npasskey_reverify = "10s"\n' },
    );
  });
});
