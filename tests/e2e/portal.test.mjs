// End-to-end tests of the user portal (docs/portal-contract.md): the real binary, a real
// browser, and assertions on what a person sees (roles, labels, visible text).
// Every test starts its own server with a fresh data directory and stops it afterwards.
// Screenshots of every page visited land in tests/e2e/artifacts/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEMO,
  DSA_PUBLIC_KEY,
  Server,
  ed25519PublicKey,
  launchBrowser,
  newContext,
  screenshot,
} from './harness.mjs';

// A slow 2-core machine that may be compiling Rust tests at the same time.
const TEST_TIMEOUT = 300_000;

const MSG = Object.freeze({
  incorrect: 'Incorrect email or password.',
  suspended: 'This account is suspended by an administrator. Ask your administrator to restore it; a password reset does not lift a suspension.',
  saved: 'Profile saved.',
});

let browser;

/** Path of the page's current URL. */
const pathOf = (page) => new URL(page.url()).pathname;

/**
 * Runs `fn` against a fresh server (named for the artifacts) with a helper to open
 * browser contexts. On failure: a screenshot of every open page, plus the server's log
 * tail and the page URL in the error.
 */
async function withServer(name, fn) {
  const server = await Server.start(name);
  const contexts = [];
  let shots = 0;
  const open = async () => {
    const context = await newContext(browser);
    contexts.push(context);
    const page = await context.newPage();
    page.on('dialog', (dialog) => dialog.accept()); // confirm() before deleting, if any
    page.shot = (label) => shot(page, label);
    return page;
  };
  const shot = (page, label) => screenshot(page, `${name}-${String(++shots).padStart(2, '0')}-${label}`);
  try {
    await fn({ server, open, shot });
  } catch (error) {
    const where = [];
    for (const context of contexts) {
      for (const page of context.pages()) {
        const text = await page
          .locator('body')
          .innerText({ timeout: 2_000 })
          .catch(() => '');
        where.push(`${page.url()} showing "${text.replace(/\s+/g, ' ').trim().slice(0, 300)}"`);
        await screenshot(page, `${name}-FAILED-${where.length}`).catch(() => {});
      }
      if (context.blocked.length) where.push(`blocked: ${context.blocked.join(', ')}`);
    }
    error.message += `\n  pages: ${where.join(' | ')}\n  server log tail:\n${server.logTail()}`;
    throw error;
  } finally {
    for (const context of contexts) await context.close().catch(() => {});
    await server.stop();
  }
}

/** Clicks something that submits a form and waits for the resulting page to load. */
async function clickAndLoad(page, locator) {
  await Promise.all([
    page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame() }),
    locator.click(),
  ]);
  await page.waitForLoadState('load');
}

/** The first element of `locator` that is visible, once there is one. */
async function visible(locator) {
  const first = locator.filter({ visible: true }).first();
  await first.waitFor({ state: 'visible' });
  return first;
}

/** Text of the (first visible) role="alert" element on the page, once one shows. */
async function alertText(page) {
  const alert = await visible(page.getByRole('alert'));
  return (await alert.innerText()).trim();
}

function assertIncludes(text, expected, what) {
  assert.ok(text.includes(expected), `${what}: expected "${expected}" in "${text}"`);
}

/** Step 1 of sign-in: the login page, Email, optionally Remember me, Continue. */
async function enterEmail(page, server, email, { remember = false } = {}) {
  if (pathOf(page) !== '/login' || page.url() === 'about:blank') {
    await page.goto(`${server.url}/login`);
  }
  await page.getByRole('heading', { name: 'User Login' }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill(email);
  if (remember) await page.getByLabel('Remember me').check();
  await page.shot('login');
  await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
}

/**
 * Full sign-in. Resolves to { alert } with the error text when the portal refuses, or
 * { alert: null } once the Applications page is shown (following the password expiry
 * notice's Continue link when the portal shows it).
 */
async function signIn(page, server, email, password, { remember = false } = {}) {
  await page.goto(`${server.url}/login`);
  await enterEmail(page, server, email, { remember });

  const passwordField = page.getByLabel('Password', { exact: true });
  await passwordField.or(page.getByRole('alert')).first().waitFor();
  if (!(await passwordField.isVisible())) {
    const alert = await alertText(page);
    await page.shot('login-refused');
    return { alert };
  }
  await page.shot('login-password');
  await passwordField.fill(password);
  await clickAndLoad(page, page.getByRole('button', { name: 'Login', exact: true }));

  if (pathOf(page) === '/login/notice') {
    await page.shot('login-notice');
    await clickAndLoad(page, page.getByRole('link', { name: 'Continue' }));
  }
  if (pathOf(page) === '/apps') {
    await page.getByRole('heading', { name: 'Applications', exact: true }).waitFor();
    await page.shot('signed-in');
    return { alert: null };
  }
  const alert = await alertText(page);
  await page.shot('login-refused');
  return { alert };
}

async function signInOk(page, server, email, password, opts) {
  const { alert } = await signIn(page, server, email, password, opts);
  assert.equal(alert, null, `signing in as ${email} should work, but the portal said: ${alert}`);
}

/** A navigation link in the portal's header. */
async function goTo(page, linkName, path) {
  await clickAndLoad(page, page.getByRole('link', { name: linkName, exact: true }).first());
  assert.equal(pathOf(page), path);
}

const tile = (page, name) => page.locator(`li.tile[data-app-name="${name}"]`);

describe('portal', { timeout: TEST_TIMEOUT * 6 }, () => {
  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  test('main journey: sign in, applications, favorites, search, profile, security, log out', { timeout: TEST_TIMEOUT }, () =>
    withServer('a-journey', async ({ server, open, shot }) => {
      const page = await open();

      // Not signed in: / sends us to the login page.
      await page.goto(`${server.url}/`);
      await page.waitForURL((url) => url.pathname === '/login');
      await page.getByRole('heading', { name: 'User Login' }).waitFor();
      assert.equal(await page.getByLabel('Email', { exact: true }).inputValue(), '');
      await page.getByRole('button', { name: 'Continue', exact: true }).waitFor();

      // Step 1 → step 2, which shows the email, a Change link and the reset link.
      await enterEmail(page, server, DEMO.email, { remember: true });
      assert.equal(pathOf(page), '/login/password');
      await page.getByRole('heading', { name: 'User Login' }).waitFor();
      await visible(page.getByText(DEMO.email));
      const change = page.getByRole('link', { name: 'Change', exact: true });
      assert.match(await change.getAttribute('href'), /\/login\?change=1$/);
      const reset = page.getByRole('link', { name: 'Reset User Password' });
      assert.match(await reset.getAttribute('href'), /\/password\/reset$/);
      await shot(page, 'password');

      await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
      await clickAndLoad(page, page.getByRole('button', { name: 'Login', exact: true }));
      if (pathOf(page) === '/login/notice') {
        await shot(page, 'notice');
        await clickAndLoad(page, page.getByRole('link', { name: 'Continue' }));
      }

      // Applications: both demo tiles, each with a link named after the app.
      assert.equal(pathOf(page), '/apps');
      await page.getByRole('heading', { name: 'Applications', exact: true }).waitFor();
      for (const name of DEMO.apps) {
        await tile(page, name).waitFor();
        const link = tile(page, name).getByRole('link', { name, exact: true }).first();
        assert.ok(await link.getAttribute('href'), `the ${name} tile links somewhere`);
      }
      const menu = page.getByRole('button', { name: 'Account menu' });
      assertIncludes(await menu.innerText(), 'DR', 'the account menu shows the initials');
      for (const nav of ['Applications', 'Profile', 'Security']) {
        await page.getByRole('link', { name: nav, exact: true }).first().waitFor();
      }
      await shot(page, 'apps');

      // Star Team Wiki.
      const star = tile(page, 'Team Wiki').getByRole('button', { name: 'Add Team Wiki to favorites' });
      assert.equal(await star.getAttribute('aria-pressed'), 'false');
      await star.click();
      const unstar = page.getByRole('button', { name: 'Remove Team Wiki from favorites' });
      await unstar.waitFor();
      assert.equal(await unstar.getAttribute('aria-pressed'), 'true');
      await page.waitForLoadState('load');
      await shot(page, 'apps-starred');

      // Favorites tab: Team Wiki only.
      await clickAndLoad(page, page.getByRole('link', { name: 'Favorites', exact: true }));
      assert.equal(new URL(page.url()).searchParams.get('tab'), 'favorites');
      assert.equal(
        await page.getByRole('link', { name: 'Favorites', exact: true }).getAttribute('aria-current'),
        'page',
      );
      await tile(page, 'Team Wiki').waitFor();
      assert.equal(await tile(page, 'Expense Reports').filter({ visible: true }).count(), 0);
      await shot(page, 'apps-favorites');

      // All Applications, search "expense": only Expense Reports.
      await clickAndLoad(page, page.getByRole('link', { name: 'All Applications', exact: true }));
      assert.notEqual(new URL(page.url()).searchParams.get('tab'), 'favorites');
      assert.equal(
        await page.getByRole('link', { name: 'All Applications', exact: true }).getAttribute('aria-current'),
        'page',
      );
      await tile(page, 'Team Wiki').waitFor();
      const search = page.getByLabel('Search applications');
      await search.fill('expense');
      // The search may filter as you type (portal.js) or submit a GET form: wait for a
      // navigation for a while, but don't require one.
      const searched = page
        .waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout: 10_000 })
        .catch(() => null);
      await search.press('Enter');
      await searched;
      await page.waitForLoadState('load');
      await tile(page, 'Team Wiki').waitFor({ state: 'hidden' });
      await tile(page, 'Expense Reports').waitFor();
      const shown = await page
        .locator('li.tile')
        .filter({ visible: true })
        .evaluateAll((tiles) => tiles.map((t) => t.dataset.appName));
      assert.deepEqual(shown, ['Expense Reports']);
      assert.equal(await page.getByLabel('Search applications').inputValue(), 'expense');
      await shot(page, 'apps-search');

      // Profile: edit a personal and an employment field, save, reload.
      await goTo(page, 'Profile', '/profile');
      for (const legend of ['Profile Details', 'Personal Information', 'Employment Information', 'Recovery Email']) {
        await page.getByRole('group', { name: legend }).waitFor();
      }
      const personal = page.getByRole('group', { name: 'Personal Information' });
      const employment = page.getByRole('group', { name: 'Employment Information' });
      const workPhone = personal.getByLabel(/^work phone$/i);
      const city = employment.getByLabel(/^city$/i);
      assert.equal(await workPhone.getAttribute('name'), 'work_phone');
      assert.equal(await city.getAttribute('name'), 'work_city');
      const details = page.getByRole('group', { name: 'Profile Details' });
      assert.equal(await details.locator('[name="first_name"]').inputValue(), DEMO.firstName);
      assert.equal(await details.locator('[name="last_name"]').inputValue(), DEMO.lastName);

      // The company email is shown but cannot be edited or submitted.
      const companyEmail = await details.evaluate((fieldset, email) => {
        const fields = [...fieldset.querySelectorAll('input, textarea')].filter((f) => f.value === email);
        return {
          asText: fieldset.innerText.includes(email),
          editable: fields.filter((f) => !f.readOnly && !f.disabled && f.type !== 'hidden').map((f) => f.name),
          shownInField: fields.length > 0,
        };
      }, DEMO.email);
      assert.ok(companyEmail.asText || companyEmail.shownInField, 'the company email is shown in Profile Details');
      assert.deepEqual(companyEmail.editable, [], 'no editable field holds the company email');
      await shot(page, 'profile');

      await workPhone.fill('+1 555 0100');
      await city.fill('Lisbon');
      await clickAndLoad(page, page.getByRole('button', { name: 'Save changes' }));
      await visible(page.getByText(MSG.saved));
      await shot(page, 'profile-saved');

      await page.goto(`${server.url}/profile`);
      await page.getByRole('group', { name: 'Personal Information' }).waitFor();
      assert.equal(
        await page.getByRole('group', { name: 'Personal Information' }).getByLabel(/^work phone$/i).inputValue(),
        '+1 555 0100',
      );
      assert.equal(
        await page.getByRole('group', { name: 'Employment Information' }).getByLabel(/^city$/i).inputValue(),
        'Lisbon',
      );
      await shot(page, 'profile-reloaded');

      // Security: its three sections and their forms.
      await goTo(page, 'Security', '/security');
      for (const heading of ['Password', 'SSH Keys', 'API Keys']) {
        await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      }
      assert.equal(await page.locator('#password').count(), 1, 'an element with id "password"');
      assertIncludes(await page.locator('#password').innerText(), 'Password', '#password');
      for (const label of ['Current password', 'New password', 'Confirm new password', 'Key name', 'Public key']) {
        await page.getByLabel(label, { exact: true }).waitFor();
      }
      await page.getByRole('button', { name: 'Change password' }).waitFor();
      await page.getByRole('button', { name: 'Add SSH key' }).waitFor();
      await page.getByLabel('Name', { exact: true }).waitFor();
      const expires = page.getByLabel('Expires in');
      const options = await expires.locator('option').evaluateAll((os) => os.map((o) => o.value));
      assert.deepEqual(options, ['30', '90', '365']);
      await page.getByRole('button', { name: 'Generate API key' }).waitFor();
      await shot(page, 'security');

      // Log out from the account menu: back at the login page, email remembered.
      await page.getByRole('button', { name: 'Account menu' }).click();
      await clickAndLoad(page, page.getByRole('button', { name: 'Log out' }));
      assert.equal(pathOf(page), '/login');
      await page.getByRole('heading', { name: 'User Login' }).waitFor();
      assert.equal(await page.getByLabel('Email', { exact: true }).inputValue(), DEMO.email);
      await shot(page, 'logged-out');

      // The session is gone.
      await page.goto(`${server.url}/apps`);
      await page.waitForURL((url) => url.pathname === '/login');
      await page.getByRole('heading', { name: 'User Login' }).waitFor();
      await shot(page, 'apps-after-logout');
    }));

  test('wrong password and unknown email both show the same error', { timeout: TEST_TIMEOUT }, () =>
    withServer('b-bad-login', async ({ server, open, shot }) => {
      const page = await open();
      const wrong = await signIn(page, server, DEMO.email, 'Not-The-Passw0rd!');
      assert.ok(wrong.alert, 'a wrong password is refused');
      assertIncludes(wrong.alert, MSG.incorrect, 'wrong password');

      const unknown = await signIn(page, server, 'nobody@example.com', DEMO.password);
      assert.ok(unknown.alert, 'an unknown email is refused');
      assertIncludes(unknown.alert, MSG.incorrect, 'unknown email');
      assert.equal(unknown.alert, wrong.alert, 'the two refusals read the same');

      // Still not signed in.
      await page.goto(`${server.url}/apps`);
      await page.waitForURL((url) => url.pathname === '/login');
      await shot(page, 'apps-not-signed-in');
    }));

  test('on a phone: Security with keys does not scroll sideways; the account menu is named by its initials', { timeout: TEST_TIMEOUT }, () =>
    withServer('c-phone', async ({ server, open, shot }) => {
      const page = await open();
      await page.setViewportSize({ width: 390, height: 844 });
      await signInOk(page, server, DEMO.email, DEMO.password);
      // WCAG 2.5.3: the visible initials start the button's accessible name.
      await page.getByRole('button', { name: 'DR, account menu', exact: true }).waitFor();
      await page.goto(`${server.url}/security`);
      const { publicKey } = await ed25519PublicKey();
      await page.getByLabel('Key name', { exact: true }).fill('phone');
      await page.getByLabel('Public key', { exact: true }).fill(publicKey);
      await clickAndLoad(page, page.getByRole('button', { name: 'Add SSH key' }));
      await page.getByLabel('Name', { exact: true }).fill('ci');
      await clickAndLoad(page, page.getByRole('button', { name: 'Generate API key' }));
      await page.getByRole('heading', { name: 'API Keys', exact: true }).waitFor();
      // The one-time key is where the person looks, and focused (issue 18 defect 1).
      const box = page.locator('#new-api-key-box');
      await box.waitFor();
      await page.waitForFunction(() => document.activeElement?.id === 'new-api-key-box');
      const inView = await box.evaluate((el) => {
        const r = el.getBoundingClientRect();
        return r.top >= 0 && r.top < window.innerHeight;
      });
      assert.ok(inView, 'the new API key is off-screen');
      await shot(page, 'security-phone');
      // A refused SSH key keeps what was pasted, next to its error.
      await page.getByLabel('Key name', { exact: true }).fill('bad');
      await page.getByLabel('Public key', { exact: true }).fill('ssh-ed25519 AAAA not-a-key');
      await clickAndLoad(page, page.getByRole('button', { name: 'Add SSH key' }));
      assert.equal(await page.getByLabel('Public key', { exact: true }).inputValue(), 'ssh-ed25519 AAAA not-a-key');
      await page.waitForFunction(() => document.activeElement?.id === 'ssh-error');
      assert.ok(
        await page.locator('#ssh-error').evaluate((el) => {
          const r = el.getBoundingClientRect();
          return r.top >= 0 && r.bottom <= window.innerHeight;
        }),
        'the SSH key error is off-screen',
      );
      const { scroll, width } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        width: document.documentElement.clientWidth,
      }));
      assert.ok(scroll <= width, `the page is ${scroll} px wide in a ${width} px viewport`);
    }));

  test('SSH keys: add, refuse duplicates and bad keys, delete', { timeout: TEST_TIMEOUT }, () =>
    withServer('c-ssh-keys', async ({ server, open, shot }) => {
      const page = await open();
      await signInOk(page, server, DEMO.email, DEMO.password);
      await page.goto(`${server.url}/security`);
      await page.getByRole('heading', { name: 'SSH Keys', exact: true }).waitFor();
      await shot(page, 'security');

      const deleteButtons = page.getByRole('button', { name: /^Delete\b/ });
      assert.equal(await deleteButtons.count(), 0, 'no SSH keys to begin with');

      const addKey = async (name, publicKey) => {
        await page.getByLabel('Key name', { exact: true }).fill(name);
        await page.getByLabel('Public key', { exact: true }).fill(publicKey);
        await clickAndLoad(page, page.getByRole('button', { name: 'Add SSH key' }));
      };

      const { publicKey, fingerprint } = await ed25519PublicKey();
      assert.match(fingerprint, /^SHA256:/);
      await addKey('laptop', publicKey);
      await visible(page.getByText(fingerprint));
      await visible(page.getByText('laptop'));
      assert.equal(await page.getByRole('alert').filter({ visible: true }).count(), 0, 'no error after a good key');
      assert.equal(await deleteButtons.count(), 1);
      await shot(page, 'key-added');

      await addKey('laptop again', publicKey);
      const duplicate = await alertText(page);
      assert.ok(duplicate.length > 0, 'adding the same key twice shows an error');
      assert.equal(await deleteButtons.count(), 1, 'the duplicate was not stored');
      await shot(page, 'key-duplicate');

      await addKey('old dsa', DSA_PUBLIC_KEY);
      const dsa = await alertText(page);
      assert.ok(dsa.length > 0, 'a DSA key shows an error');
      assert.equal(await deleteButtons.count(), 1, 'the DSA key was not stored');
      await shot(page, 'key-dsa');

      await addKey('garbage', 'this is not an ssh public key');
      const garbage = await alertText(page);
      assert.ok(garbage.length > 0, 'garbage shows an error');
      assert.equal(await deleteButtons.count(), 1, 'garbage was not stored');
      await shot(page, 'key-garbage');

      // Deleting asks first, on its own page; Cancel would go back untouched.
      await clickAndLoad(page, deleteButtons.first());
      await page.getByRole('heading', { name: 'Delete this SSH key?' }).waitFor();
      await shot(page, 'key-delete-confirm');
      await clickAndLoad(page, page.getByRole('button', { name: 'Delete SSH key' }));
      await page.getByRole('heading', { name: 'SSH Keys', exact: true }).waitFor();
      assert.equal(await deleteButtons.count(), 0, 'the key is gone');
      assert.equal(await page.getByText(fingerprint).count(), 0, 'its fingerprint is gone');
      await shot(page, 'key-deleted');
    }));

  test('admin CLI: add a user, lock and unlock them', { timeout: TEST_TIMEOUT }, () =>
    withServer('d-admin-cli', async ({ server, open, shot }) => {
      const user = { email: 'new@example.com', password: 'N3w-User-Passw0rd!' };
      await server.adminOk(
        'users', 'add',
        '--email', user.email,
        '--first-name', 'New',
        '--last-name', 'User',
        '--password', user.password,
      );

      const first = await open();
      await signInOk(first, server, user.email, user.password);
      assertIncludes(await first.getByRole('button', { name: 'Account menu' }).innerText(), 'NU', 'initials');

      await server.adminOk('users', 'lock', user.email);
      const locked = await open();
      const refused = await signIn(locked, server, user.email, user.password);
      assert.ok(refused.alert, 'a locked account cannot sign in');
      assertIncludes(refused.alert, MSG.suspended, 'suspended account');

      await server.adminOk('users', 'unlock', user.email);
      const unlocked = await open();
      await signInOk(unlocked, server, user.email, user.password);
    }));

  test('password change: wrong current password, weak password, then a good change', { timeout: TEST_TIMEOUT }, () =>
    withServer('e-password-change', async ({ server, open, shot }) => {
      const page = await open();
      await signInOk(page, server, DEMO.email, DEMO.password);
      await page.goto(`${server.url}/security`);
      await page.getByRole('heading', { name: 'Password', exact: true }).waitFor();
      await shot(page, 'security');

      const newPassword = 'Brand-New-Lisbon-Passw0rd!77';
      const change = async (current, next, confirm = next) => {
        await page.getByLabel('Current password', { exact: true }).fill(current);
        await page.getByLabel('New password', { exact: true }).fill(next);
        await page.getByLabel('Confirm new password', { exact: true }).fill(confirm);
        await clickAndLoad(page, page.getByRole('button', { name: 'Change password' }));
      };

      await change('Not-The-Current-Passw0rd!', newPassword);
      assert.match(pathOf(page), /^\/security/, 'a wrong current password keeps us on Security');
      const wrongCurrent = await alertText(page);
      assert.ok(wrongCurrent.length > 0, 'a wrong current password shows an error');
      await shot(page, 'wrong-current');

      await change(DEMO.password, 'abc');
      assert.match(pathOf(page), /^\/security/, 'a weak password keeps us on Security');
      const alert = await visible(page.getByRole('alert'));
      const rules = (await alert.locator('li').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
      assert.ok(rules.length >= 1, `a weak password lists the unmet rules, got: ${await alert.innerText()}`);
      await shot(page, 'weak-password');

      // A good change ends every session and goes to the login page.
      await change(DEMO.password, newPassword);
      await page.waitForURL((url) => url.pathname === '/login');
      await page.getByRole('heading', { name: 'User Login' }).waitFor();
      await shot(page, 'changed');
      await page.goto(`${server.url}/apps`);
      await page.waitForURL((url) => url.pathname === '/login');

      const old = await signIn(page, server, DEMO.email, DEMO.password);
      assert.ok(old.alert, 'the old password no longer works');
      assertIncludes(old.alert, MSG.incorrect, 'old password');

      await signInOk(page, server, DEMO.email, newPassword);
    }));
});
