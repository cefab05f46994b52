// End-to-end tests of the admin console: the real binary and Debian's Chromium. The demo
// user (an admin) enrols TOTP and steps up, then each page family is walked: a happy path,
// a validation error, and the same pages as a user without a role (403). axe-core runs on
// every admin page and must find nothing. Screenshots land in artifacts/admin/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { DEMO, Server, launchBrowser, newContext, request, screenshot } from './harness.mjs';

const TEST_TIMEOUT = 240_000;
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** The smallest valid PNG: one transparent pixel. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
/** The SP metadata the Rust console and API tests register too. */
const SP_METADATA = readFileSync(new URL('../../idp/tests/fixtures/saml/sp-metadata.xml', import.meta.url), 'utf8');
const PLAIN = { email: 'plain@example.com', password: 'Quiet-Meadow-3189!' };
let browser;

const pathOf = (page) => new URL(page.url()).pathname;

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

async function signIn(page, server, email, password) {
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
  await page.getByLabel('Password', { exact: true }).fill(password);
  await clickAndLoad(page, page.getByRole('button', { name: 'Login', exact: true }));
}

let shots = 0;
const shot = (page, label) => screenshot(page, `admin/${String(++shots).padStart(2, '0')}-${label}`);

/** axe-core in the page (evaluated over the debugging protocol: the CSP allows no inline script). */
async function axe(page, label) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(found, [], `axe on ${label} (${page.url()})`);
}

/** Visit, check the heading, run axe, take a screenshot. */
async function visit(page, url, heading, label) {
  await page.goto(url);
  await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
  await axe(page, label);
  await shot(page, label);
}

describe('admin console', () => {
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test('every page family: happy path, a validation error, a role-denied case; axe everywhere', { timeout: TEST_TIMEOUT }, async () => {
    const server = await Server.start('admin', {
      policies: {
        whoami: 'name = "Whoami"\nhost = "whoami.localhost"\nupstreams = ["builtin:whoami"]\ngroups = ["Staff"]\n',
      },
    });
    const context = await newContext(browser);
    const plainContext = await newContext(browser);
    const page = await context.newPage();
    try {
      await server.adminOk('users', 'add', '--email', PLAIN.email, '--first-name', 'Pat', '--last-name', 'Plain',
        '--password', PLAIN.password);
      const u = `${server.url}/admin`;

      // The demo admin has no second factor yet: told to enrol one.
      await signIn(page, server, DEMO.email, DEMO.password);
      await page.getByRole('button', { name: 'Account menu' }).click();
      await clickAndLoad(page, page.getByRole('link', { name: 'Admin', exact: true }));
      await page.getByRole('heading', { name: 'Second factor required' }).waitFor();
      await axe(page, 'enrol-first');
      await shot(page, 'enrol-first');
      await clickAndLoad(page, page.getByRole('link', { name: 'Set up a second factor' }));
      await clickAndLoad(page, page.getByRole('button', { name: 'I Have An App' }));
      const key = (await page.locator('#totp-key').innerText()).trim();
      await clickAndLoad(page, page.getByRole('link', { name: 'Next' }));
      await page.getByLabel('Code shown in your app').fill(oath(key));
      await clickAndLoad(page, page.getByRole('button', { name: 'Activate' }));

      // Then the console asks for a fresh factor, and comes back.
      await page.goto(u);
      assert.equal(pathOf(page), '/login/mfa/totp');
      await page.getByLabel('Code from your authenticator app').fill(oath(key, 30));
      await clickAndLoad(page, page.getByRole('button', { name: 'Verify' }));
      assert.equal(pathOf(page), '/admin');
      await page.getByText('Healthy').waitFor();
      await axe(page, 'dashboard');
      await shot(page, 'dashboard');

      // Users: a validation error, then a new user, then a lock with a reason.
      await visit(page, `${u}/users/new`, 'New user', 'user-new');
      await page.getByLabel('Company email').fill('not-an-email');
      await page.getByLabel('First name').fill('Ann');
      await clickAndLoad(page, page.getByRole('button', { name: 'Create user' }));
      assert.match(await page.getByRole('alert').innerText(), /is not an email address/);
      await axe(page, 'user-new-error');
      await shot(page, 'user-new-error');
      await page.getByLabel('Company email').fill('ann@example.com');
      await page.getByLabel('Last name').fill('Lee');
      await clickAndLoad(page, page.getByRole('button', { name: 'Create user' }));
      await page.getByText('User created.').waitFor();
      await page.getByRole('heading', { name: 'Ann Lee', level: 1 }).waitFor();
      await page.getByLabel('Reason for locking').fill('left the company');
      await clickAndLoad(page, page.getByRole('button', { name: 'Lock account' }));
      await page.getByText('locked by an administrator').waitFor();
      await axe(page, 'user');
      await shot(page, 'user');
      await clickAndLoad(page, page.getByRole('link', { name: 'Delete user…' }));
      await page.getByRole('heading', { name: 'Delete ann@example.com?' }).waitFor();
      await axe(page, 'user-delete-confirm');
      await shot(page, 'user-delete-confirm');

      // The users list: a search, then an over-long one refused.
      await visit(page, `${u}/users?text=ann`, 'Users', 'users');
      await page.getByRole('link', { name: 'ann@example.com' }).waitFor();

      // A user created through the admin API is what the console lists and shows.
      const machine = JSON.parse((await server.adminOk(
        '--json', 'clients', 'add', '--client-id', 'hr-sync', '--grant', 'client_credentials', '--scope', 'portcullis:admin',
      )).stdout);
      const granted = await request(server.port, 'POST', '/oauth2/token', {
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`hr-sync:${machine.client_secret}`).toString('base64')}`,
        },
        body: 'grant_type=client_credentials&scope=portcullis%3Aadmin',
      });
      assert.equal(granted.status, 200, granted.body);
      const made = await request(server.port, 'POST', '/api/admin/v1/users', {
        headers: { authorization: `Bearer ${JSON.parse(granted.body).access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'api.made@example.com', first_name: 'Ada', last_name: 'Made', groups: [] }),
      });
      assert.equal(made.status, 201, made.body);
      await visit(page, `${u}/users?text=api.made`, 'Users', 'users-api-made');
      await clickAndLoad(page, page.getByRole('link', { name: 'api.made@example.com' }));
      await page.getByRole('heading', { name: 'Ada Made', level: 1 }).waitFor();
      await visit(page, `${u}/users?text=ann`, 'Users', 'users');
      await page.getByLabel('Name, email or username').fill('x'.repeat(201));
      await clickAndLoad(page, page.getByRole('button', { name: 'Search' }));
      assert.match(await page.getByRole('alert').innerText(), /at most 200 characters/);
      await axe(page, 'users-error');

      // Groups: an empty name refused, then a group with two members added at once.
      await visit(page, `${u}/groups`, 'Groups', 'groups');
      await clickAndLoad(page, page.getByRole('button', { name: 'Create group' }));
      assert.match(await page.getByRole('alert').innerText(), /a group name must have/);
      await axe(page, 'groups-error');
      await page.getByLabel('Name', { exact: true }).fill('Sales');
      await clickAndLoad(page, page.getByRole('button', { name: 'Create group' }));
      await page.getByText('Group created.').waitFor();
      await page.getByLabel('Add members').fill(`${PLAIN.email}\n${DEMO.email}`);
      await clickAndLoad(page, page.getByRole('button', { name: 'Add members' }));
      await page.getByText('2 added').waitFor();
      await axe(page, 'group');
      await shot(page, 'group');

      // Applications: a bad launch URL refused, then a tile with an uploaded logo.
      await visit(page, `${u}/apps`, 'Applications', 'apps');
      await page.getByLabel('Name', { exact: true }).fill('Payroll');
      await page.getByLabel('Launch URL').fill('javascript:alert(1)');
      await clickAndLoad(page, page.getByRole('button', { name: 'Create application' }));
      assert.match(await page.getByRole('alert').innerText(), /launch_url/);
      await axe(page, 'apps-error');
      await page.getByLabel('Launch URL').fill('https://payroll.example.com/');
      await clickAndLoad(page, page.getByRole('button', { name: 'Create application' }));
      await page.getByText('Application created.').waitFor();
      await page.getByLabel(/PNG or JPEG/).setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: PNG });
      await clickAndLoad(page, page.getByRole('button', { name: 'Upload logo' }));
      await page.getByText('Logo uploaded.').waitFor();
      const logo = page.getByRole('img', { name: 'Logo of Payroll' });
      await logo.waitFor();
      assert.ok(await logo.evaluate((img) => img.complete && img.naturalWidth > 0), 'the portal serves the logo');
      await axe(page, 'app');
      await shot(page, 'app');

      // OIDC clients: a bad redirect URI refused, then a client whose secret is shown once.
      await visit(page, `${u}/clients`, 'OpenID Connect clients', 'clients');
      await page.getByLabel('Client ID').fill('payroll');
      await page.getByLabel('Redirect URIs (one per line)').fill('not a uri');
      await clickAndLoad(page, page.getByRole('button', { name: 'Register client' }));
      assert.match(await page.getByRole('alert').innerText(), /redirect/);
      await axe(page, 'clients-error');
      await page.getByLabel('Redirect URIs (one per line)').fill('https://payroll.example.com/callback');
      await clickAndLoad(page, page.getByRole('button', { name: 'Register client' }));
      const firstSecret = (await page.locator('#client-secret').innerText()).trim();
      assert.match(firstSecret, /^[A-Za-z0-9_-]{43}$/);
      await axe(page, 'clients-created');
      await shot(page, 'clients-created');

      // The client's page: one bad redirect URI refused on its field, then saved; the secret rotated.
      await visit(page, `${u}/clients/payroll`, 'Client payroll', 'client');
      const redirects = page.getByLabel('Redirect URIs (one per line)', { exact: true });
      await redirects.fill('https://payroll.example.com/callback\nhttp://payroll.example.com/cb');
      await clickAndLoad(page, page.getByRole('button', { name: 'Save client' }));
      assert.equal(await redirects.getAttribute('aria-invalid'), 'true');
      assert.match(await page.locator('#redirect_uris-error').innerText(), /http:\/\/payroll\.example\.com\/cb.*loopback/);
      await axe(page, 'client-error');
      await shot(page, 'client-error');
      await redirects.fill('https://payroll.example.com/callback\nhttps://payroll.example.com/other');
      await clickAndLoad(page, page.getByRole('button', { name: 'Save client' }));
      await page.getByText('Client saved.').waitFor();
      assert.equal(await redirects.inputValue(), 'https://payroll.example.com/callback\nhttps://payroll.example.com/other');
      await clickAndLoad(page, page.getByRole('link', { name: 'Rotate secret' }));
      await page.getByRole('heading', { name: 'Rotate the secret of payroll?' }).waitFor();
      await axe(page, 'client-rotate-confirm');
      await clickAndLoad(page, page.getByRole('button', { name: 'Rotate secret' }));
      const rotated = (await page.locator('#client-secret').innerText()).trim();
      assert.match(rotated, /^[A-Za-z0-9_-]{43}$/);
      assert.notEqual(rotated, firstSecret);
      await axe(page, 'client-rotated');
      await shot(page, 'client-rotated');
      await clickAndLoad(page, page.getByRole('link', { name: 'Delete client' }));
      await page.getByRole('heading', { name: 'Delete payroll?' }).waitFor();
      await axe(page, 'client-delete-confirm');
      await shot(page, 'client-delete-confirm');

      // Deletes of a group and an application are confirmed, saying what they do.
      await visit(page, `${u}/groups/Sales/delete`, 'Delete the group Sales?', 'group-delete-confirm');
      await page.getByText('the accounts stay').waitFor();
      await visit(page, `${u}/apps/Whoami`, 'Whoami', 'app-policy');
      await page.getByText('This application cannot be deleted here').waitFor();

      // Gateway policies: a bad file refused on reload, named with its error; then a good reload.
      await visit(page, `${u}/apps`, 'Applications', 'apps-policies');
      await page.getByRole('row', { name: /whoami\.toml\s+Valid/ }).waitFor();
      const broken = path.join(server.dir, 'policies', 'broken.toml');
      await writeFile(broken, 'name = "Broken"\nhost = "broken.localhost"\n');
      await clickAndLoad(page, page.getByRole('link', { name: 'Reload policies' }));
      await page.getByRole('heading', { name: 'Reload the gateway policies?' }).waitFor();
      await axe(page, 'policies-reload-confirm');
      await clickAndLoad(page, page.getByRole('button', { name: 'Reload policies' }));
      assert.match(await page.locator('#reload-result').innerText(), /Reload refused/);
      assert.match(await page.getByRole('row', { name: /broken\.toml/ }).innerText(), /Invalid: .*upstreams/);
      await axe(page, 'policies-refused');
      await shot(page, 'policies-refused');
      await rm(broken);
      await clickAndLoad(page, page.getByRole('link', { name: 'Reload policies' }));
      await clickAndLoad(page, page.getByRole('button', { name: 'Reload policies' }));
      assert.match(await page.locator('#reload-result').innerText(), /Policies reloaded: 1 served/);

      // SAML service providers: metadata pasted and previewed, then registered; an ACS
      // URL refused beside its field.
      await visit(page, `${u}/saml`, 'SAML service providers', 'saml');
      await page.getByLabel("Paste the SP's metadata (XML)").fill(SP_METADATA);
      await page.getByLabel('Application (its groups decide who may sign in)').selectOption('Team Wiki');
      await clickAndLoad(page, page.getByRole('button', { name: 'Preview' }));
      await page.locator('#sp-preview').getByText('https://wiki.example.com/shibboleth', { exact: true }).waitFor();
      assert.match(await page.locator('#sp-preview').innerText(), /CN=test-idp, expires 2036-11-20/);
      await axe(page, 'saml-preview');
      await shot(page, 'saml-preview');
      await clickAndLoad(page, page.getByRole('button', { name: 'Register service provider' }));
      await page.getByText('Service provider registered.').waitFor();
      await page.getByRole('heading', { name: 'https://wiki.example.com/shibboleth', level: 1 }).waitFor();
      assert.match(await page.locator('dl.facts').innerText(), /CN=test-idp; expires 2036-11-20/);
      await page.getByRole('cell', { name: 'https://wiki.example.com/Shibboleth.sso/SAML2/POST-alt' }).waitFor();
      await page.getByRole('link', { name: '/saml/metadata?sp=https%3A%2F%2Fwiki.example.com%2Fshibboleth' }).waitFor();
      await axe(page, 'saml-sp');
      await shot(page, 'saml-sp');
      const acs = page.getByLabel(/^Assertion consumer services, one per line/);
      await acs.fill('1 http://wiki.example.com/acs default');
      await clickAndLoad(page, page.getByRole('button', { name: 'Save service provider' }));
      assert.match(await page.getByRole('alert').innerText(), /acs\[0\]\.url/);
      assert.equal(await acs.getAttribute('aria-invalid'), 'true');
      await axe(page, 'saml-sp-error');
      await shot(page, 'saml-sp-error');
      await clickAndLoad(page, page.getByRole('link', { name: 'Remove service provider…' }));
      await page.getByRole('heading', { name: 'Remove https://wiki.example.com/shibboleth?' }).waitFor();
      await axe(page, 'saml-sp-remove-confirm');

      // Federation providers: none in this configuration (their status is tested in
      // idp/tests/admin_console.rs and admin_api.rs).
      await visit(page, `${u}/federation`, 'Federation providers', 'federation');
      await page.getByText('No upstream provider is configured.').waitFor();

      // The audit log, filtered to the lock above.
      await visit(page, `${u}/audit?event=admin.user.lock`, 'Audit log', 'audit');
      await page.getByText('left the company').waitFor();

      // Settings: a value out of range refused; a valid one confirmed, then saved.
      await visit(page, `${u}/settings`, 'Settings', 'settings');
      const minLength = page.getByLabel('New value of password.min_length');
      await minLength.fill('3');
      await clickAndLoad(page, page.locator('#s-password-min_length').getByRole('button', { name: 'Change…' }));
      await page.getByRole('heading', { name: 'Change password.min_length?' }).waitFor();
      await axe(page, 'settings-confirm');
      await clickAndLoad(page, page.getByRole('button', { name: 'Change setting' }));
      assert.match(await page.locator('#s-password-min_length').innerText(), /password\.min_length/);
      await page.locator('#s-password-min_length [role="alert"]').waitFor();
      await axe(page, 'settings-error');
      await shot(page, 'settings-error');

      // Keys: listed; rotation confirmed first.
      await visit(page, `${u}/keys`, 'Signing keys', 'keys');
      await clickAndLoad(page, page.getByRole('link', { name: 'Rotate OIDC keys…' }));
      await page.getByRole('heading', { name: 'Rotate the OIDC signing keys?' }).waitFor();
      await axe(page, 'keys-confirm');
      await clickAndLoad(page, page.getByRole('button', { name: 'Rotate' }));
      await page.getByText('New OIDC signing keys are in use.').waitFor();

      // A user without a role: 403 on every page family, and no Admin link.
      const plain = await plainContext.newPage();
      await signIn(plain, server, PLAIN.email, PLAIN.password);
      assert.equal(pathOf(plain), '/apps');
      assert.equal(await plain.getByRole('link', { name: 'Admin', exact: true }).count(), 0);
      for (const p of ['', '/users', '/users/new', '/users/demo%40example.com', '/groups', '/apps', '/clients', '/clients/payroll', '/settings', '/keys', '/audit',
        '/saml', '/saml/https%3A%2F%2Fwiki.example.com%2Fshibboleth', '/federation']) {
        const res = await plain.goto(`${u}${p}`);
        assert.equal(res.status(), 403, `/admin${p}`);
        await plain.getByRole('heading', { name: 'Not allowed' }).waitFor();
      }
      await axe(plain, 'denied');
      await shot(plain, 'denied');
    } catch (error) {
      await screenshot(page, 'admin/FAILED').catch(() => {});
      error.message += `\n  page: ${page.url()}\n  server log tail:\n${server.logTail()}`;
      throw error;
    } finally {
      await context.close().catch(() => {});
      await plainContext.close().catch(() => {});
      await server.stop();
    }
  });
});
