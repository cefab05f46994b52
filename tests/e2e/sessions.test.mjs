// End-to-end tests of "Your sessions and devices", the show-password button and the live
// password checklist (issue 18): the real binary, Debian's Chromium, two browser contexts
// signed in as the same person. axe-core runs on each new page state and must find
// nothing. A password change is mailed through a real SMTP server (Python's aiosmtpd
// from tests/.venv, as in reset.test.mjs). Screenshots land in artifacts/sessions/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO, Server, freePort, launchBrowser, newContext, screenshot } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const TEST_TIMEOUT = 240_000;
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let browser;

const pathOf = (page) => new URL(page.url()).pathname;

async function clickAndLoad(page, locator) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await locator.click();
  await navigated;
  await page.waitForLoadState('load');
}

async function signIn(page, server) {
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
  await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
  await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
  await clickAndLoad(page, page.getByRole('button', { name: 'Login', exact: true }));
  assert.equal(pathOf(page), '/apps');
}

let shots = 0;
const shot = (page, label) => screenshot(page, `sessions/${String(++shots).padStart(2, '0')}-${label}`);

/** axe-core in the page (evaluated over the debugging protocol: the CSP allows no inline script). */
async function axe(page, label) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(found, [], `axe on ${label} (${page.url()})`);
  await shot(page, label);
}

/** smtp_sink.py on a free port, storing each message it receives in a folder. */
async function startSmtp() {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-smtp-'));
  const venv = path.resolve(here, '../.venv/bin/python');
  const child = spawn(existsSync(venv) ? venv : 'python3', [path.join(here, 'smtp_sink.py'), String(port), dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (c) => (log += c));
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => String(c).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`smtp_sink exited ${code}: ${log}`)));
  });
  const messages = async () => {
    const names = (await readdir(dir)).filter((n) => n.endsWith('.eml')).sort();
    return Promise.all(names.map(async (n) => (await readFile(path.join(dir, n), 'utf8')).replace(/=\r?\n/g, '').replace(/=3D/g, '=')));
  };
  return {
    port,
    async waitFor(predicate, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const found = (await messages()).find(predicate);
        if (found) return found;
        if (Date.now() > end) throw new Error('no matching message arrived');
        await sleep(100);
      }
    },
    async stop() {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('sessions and devices, show password, password checklist', () => {
  let server;
  let smtp;
  before(async () => {
    browser = await launchBrowser();
    smtp = await startSmtp();
    server = await Server.start('sessions', {
      extraToml: `
[mail]
transport = "smtp"
smtp_host = "127.0.0.1"
smtp_port = ${smtp.port}
smtp_tls = "none"
from = "Portcullis <no-reply@portal.localhost>"
retry_backoff = "300ms"
`,
    });
  });
  after(async () => {
    await server?.stop();
    await smtp?.stop();
    await browser?.close();
  });

  test('one browser signs the other out from the Security page', { timeout: TEST_TIMEOUT }, async () => {
    const laptop = await (await newContext(browser)).newPage();
    const phone = await (await newContext(browser)).newPage();
    await signIn(laptop, server);
    await signIn(phone, server);

    await laptop.goto(`${server.url}/security#sessions`);
    await laptop.getByRole('heading', { name: 'Your sessions and devices', level: 2 }).waitFor();
    const items = laptop.locator('#session-list > li');
    assert.equal(await items.count(), 2);
    const mine = laptop.locator('#session-list > li[data-current]');
    assert.equal(await mine.count(), 1);
    assert.match(await mine.innerText(), /This browser/);
    assert.match(await mine.innerText(), /Chrome on Linux/);
    assert.equal(await mine.getByRole('button', { name: /^Sign out/ }).count(), 0, 'this one uses Log out');
    await laptop.getByRole('heading', { name: 'Recent sign-in activity', level: 2 }).waitFor();
    assert.equal(await laptop.locator('#signin-activity tbody tr').count(), 2, 'two sign-ins so far');
    await axe(laptop, 'security-two-sessions');

    const other = laptop.locator('#session-list > li:not([data-current])');
    await clickAndLoad(laptop, other.getByRole('button', { name: /^Sign out Chrome on Linux/ }));
    await laptop.getByRole('heading', { name: 'Sign out this session?', level: 1 }).waitFor();
    await axe(laptop, 'confirm-sign-out-session');
    // Still signed in until it is confirmed.
    await phone.goto(`${server.url}/security`);
    assert.equal(pathOf(phone), '/security');

    await clickAndLoad(laptop, laptop.getByRole('button', { name: 'Sign out session', exact: true }));
    assert.equal(pathOf(laptop), '/security');
    await laptop.getByText('That session was signed out.').waitFor();
    assert.equal(await laptop.locator('#session-list > li').count(), 1);
    await laptop.getByText('You are not signed in anywhere else.').waitFor();
    await axe(laptop, 'security-one-session');

    await phone.reload();
    assert.equal(pathOf(phone), '/login', 'the other browser is signed out');
    await laptop.reload();
    assert.equal(pathOf(laptop), '/security', 'this browser stays signed in');
    await laptop.context().close();
    await phone.context().close();
  });

  test('show password reveals and hides again; the checklist ticks as the user types', { timeout: TEST_TIMEOUT }, async () => {
    const page = await (await newContext(browser)).newPage();
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
    await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
    const field = page.getByLabel('Password', { exact: true });
    await field.fill(DEMO.password);
    const toggle = page.getByRole('button', { name: 'Show password', exact: true });
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    assert.equal(await field.getAttribute('type'), 'password');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    assert.equal(await field.getAttribute('type'), 'text');
    assert.equal(await field.inputValue(), DEMO.password, 'the typed text is kept');
    await axe(page, 'login-password-shown');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    assert.equal(await field.getAttribute('type'), 'password');
    // Shown at the moment of submitting: it is still sent, as a password field.
    await toggle.click();
    await clickAndLoad(page, page.getByRole('button', { name: 'Login', exact: true }));
    assert.equal(pathOf(page), '/apps');

    await page.goto(`${server.url}/security#password`);
    const fresh = page.getByLabel('New password', { exact: true });
    const rules = page.locator('#password-policy');
    const rule = (kind) => rules.locator(`li[data-rule="${kind}"]`);
    assert.equal(await rules.locator('li.met').count(), 0, 'nothing ticked before typing');
    await fresh.pressSequentially('abc');
    assert.match(await rule('lower').getAttribute('class'), /met/);
    assert.doesNotMatch((await rule('min').getAttribute('class')) ?? '', /met/);
    assert.match(await rule('min').innerText(), /not yet/);
    await fresh.fill('Harbor-Lantern-58!');
    await page.getByLabel('Confirm new password', { exact: true }).fill('Harbor-Lantern-58!');
    for (const kind of ['min', 'upper', 'lower', 'digit', 'special', 'identity', 'match']) {
      if ((await rule(kind).count()) === 0) continue;
      assert.match((await rule(kind).getAttribute('class')) ?? '', /met/, `${kind} ticked`);
    }
    await fresh.fill('dana-Reyes-2026!x');
    assert.doesNotMatch((await rule('match').getAttribute('class')) ?? '', /met/, 'confirmation differs now');
    const newToggle = page.locator('#pw-new ~ button[data-reveal]');
    await newToggle.click();
    assert.equal(await fresh.getAttribute('type'), 'text');
    await axe(page, 'security-checklist-typing');
    await page.context().close();
  });

  test('without JavaScript a password field stays a password field', { timeout: TEST_TIMEOUT }, async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
    await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('type'), 'password');
    assert.equal(await page.locator('button[data-reveal]').count(), 0);
    await context.close();
  });

  // Last: a password change signs out every session.
  test('a password change is mailed to the user through SMTP', { timeout: TEST_TIMEOUT }, async () => {
    const page = await (await newContext(browser)).newPage();
    await signIn(page, server);
    await page.goto(`${server.url}/security#password`);
    await page.getByLabel('Current password', { exact: true }).fill(DEMO.password);
    await page.getByLabel('New password', { exact: true }).fill('Harbor-Lantern-58!');
    await page.getByLabel('Confirm new password', { exact: true }).fill('Harbor-Lantern-58!');
    await clickAndLoad(page, page.getByRole('button', { name: 'Change password', exact: true }));
    assert.equal(pathOf(page), '/login');
    const mail = await smtp.waitFor((m) => m.includes('A security change on your Portcullis account'));
    assert.match(mail, /To: demo@example\.com/);
    assert.match(mail, /Your password was changed/);
    assert.doesNotMatch(mail, /Harbor-Lantern-58!/, 'no password in a mail');
    await page.context().close();
  });
});
