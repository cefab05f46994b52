// End-to-end tests of password reset by email: the real binary sending through a real SMTP
// server (Python's aiosmtpd, started by the test from tests/.venv), Debian's Chromium
// following the emailed link. Screenshots land in tests/e2e/artifacts/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO, Server, freePort, launchBrowser, newContext, screenshot } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const TEST_TIMEOUT = 300_000;
const NEW_PASSWORD = 'Green-Meadow-5830!';
let browser;

const pathOf = (page) => new URL(page.url()).pathname;

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

/** A running aiosmtpd that stores each received message in its folder. */
class Smtp {
  static async start(port, tls = null) {
    const smtp = new Smtp();
    smtp.port = port;
    smtp.dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-smtp-'));
    const venv = path.resolve(here, '../.venv/bin/python');
    const python = existsSync(venv) ? venv : 'python3';
    const extra = tls ? [tls.cert, tls.key] : [];
    smtp.child = spawn(python, [path.join(here, 'smtp_sink.py'), String(port), smtp.dir, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    smtp.log = '';
    smtp.child.stderr.on('data', (c) => (smtp.log += c));
    await new Promise((resolve, reject) => {
      smtp.child.stdout.on('data', (c) => String(c).includes('ready') && resolve());
      smtp.child.once('exit', (code) => reject(new Error(`smtp_sink exited ${code}: ${smtp.log}`)));
    });
    return smtp;
  }

  /** The messages received so far, quoted-printable soft breaks undone. */
  async messages() {
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.eml')).sort();
    const out = [];
    for (const n of names) {
      const raw = await readFile(path.join(this.dir, n), 'utf8');
      out.push(raw.replace(/=\r?\n/g, '').replace(/=3D/g, '='));
    }
    return out;
  }

  async waitFor(count, timeoutMs = 30_000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.messages();
      if (m.length >= count) return m;
      if (Date.now() > end) throw new Error(`expected ${count} messages, got ${m.length}`);
      await sleep(100);
    }
  }

  async stop() {
    this.child.kill('SIGTERM');
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A throw-away CA and a certificate for 127.0.0.1 signed by it (openssl). */
async function makeCerts() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-smtp-tls-'));
  const f = (n) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2',
    '-subj', '/CN=Portcullis test mail CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'pipe' });
  execFileSync('openssl', ['req', ...ec, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=127.0.0.1'],
    { stdio: 'pipe' });
  await writeFile(f('ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  execFileSync('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('leaf.pem'), '-days', '2', '-extfile', f('ext.cnf')], { stdio: 'pipe' });
  return { dir, ca: f('ca.pem'), cert: f('leaf.pem'), key: f('leaf.key') };
}

function smtpConfig(port, { tls = 'none', ca = null } = {}) {
  return `
[mail]
transport = "smtp"
smtp_host = "127.0.0.1"
smtp_port = ${port}
smtp_tls = "${tls}"
${ca ? `smtp_ca_file = "${ca}"` : ''}
from = "Portcullis <no-reply@portal.localhost>"
retry_backoff = "300ms"
max_attempts = 10
`;
}

/** The reset link in a message, as the portal wrote it. */
function linkIn(message) {
  const m = message.match(/https:\/\/[^\s"<>]+\/password\/reset\/new\?token=[A-Za-z0-9_-]+/);
  assert.ok(m, `a reset link in:\n${message}`);
  return m[0];
}

async function signIn(page, server, password) {
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
  await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
  await page.getByLabel('Password', { exact: true }).fill(password);
  await clickAndLoad(page, page.getByRole('button', { name: 'Login', exact: true }));
}

async function askForReset(page, server, email) {
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
  await clickAndLoad(page, page.getByRole('link', { name: 'Reset User Password' }));
  await page.getByRole('heading', { name: 'Reset User Password' }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill(email);
  await clickAndLoad(page, page.getByRole('button', { name: 'Send Reset Request' }));
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  return page.locator('main, body').first().innerText();
}

async function setNewPassword(page, password) {
  await page.getByLabel('New password', { exact: true }).fill(password);
  await page.getByLabel('Confirm new password', { exact: true }).fill(password);
  await clickAndLoad(page, page.getByRole('button', { name: 'Reset Password' }));
}

describe('password reset by email', () => {
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test('request, emailed link, new password, single use, sessions end', { timeout: TEST_TIMEOUT }, async () => {
    const smtp = await Smtp.start(await freePort());
    const server = await Server.start('reset-smtp', { extraToml: smtpConfig(smtp.port) });
    const ctxs = [];
    const open = async () => {
      const c = await newContext(browser);
      ctxs.push(c);
      return c.newPage();
    };
    try {
      // A session in another browser, which the reset must end.
      const other = await open();
      await signIn(other, server, DEMO.password);
      assert.equal(pathOf(other), '/apps');

      const page = await open();
      const knownText = await askForReset(page, server, DEMO.email);
      await screenshot(page, 'reset-01-requested');
      const [message] = await smtp.waitFor(1);
      assert.match(message, new RegExp(`X-Envelope-To: ${DEMO.email}`));
      assert.match(message, /Content-Type: text\/html/);
      const link = linkIn(message);
      const token = new URL(link).searchParams.get('token');
      assert.ok(!server.log.includes(token), 'the token is not logged');

      // An unknown email: the same page, and no message.
      const unknown = await open();
      const unknownText = await askForReset(unknown, server, 'nobody@example.com');
      assert.equal(unknownText, knownText);

      await page.goto(link);
      await page.getByRole('heading', { name: 'Reset Password' }).waitFor();
      await setNewPassword(page, 'short');
      assert.match(await page.getByRole('alert').innerText(), /not changed/);
      await screenshot(page, 'reset-02-policy');
      await setNewPassword(page, NEW_PASSWORD);
      await page.getByRole('heading', { name: 'Password reset' }).waitFor();
      await screenshot(page, 'reset-03-done');

      // Confirmation mail; still nothing for the unknown address.
      const all = await smtp.waitFor(2);
      assert.equal(all.length, 2);
      assert.match(all[1], /was just reset/);
      assert.ok(all.every((m) => !m.includes('nobody@example.com')));

      // The other browser was signed out.
      await other.goto(`${server.url}/apps`);
      assert.equal(pathOf(other), '/login');

      // Old password fails, new one works.
      const fresh = await open();
      await signIn(fresh, server, DEMO.password);
      assert.notEqual(pathOf(fresh), '/apps');
      const fresh2 = await open();
      await signIn(fresh2, server, NEW_PASSWORD);
      assert.equal(pathOf(fresh2), '/apps');

      // The link works once.
      await page.goto(link);
      await page.getByRole('heading', { name: 'This link does not work' }).waitFor();
      await page.getByRole('link', { name: 'Ask for a new link' }).waitFor();
      await screenshot(page, 'reset-04-used-link');

      // The rate limit engages (three per account in the window; one used above).
      await askForReset(page, server, DEMO.email);
      await askForReset(page, server, DEMO.email);
      await page.goto(`${server.url}/password/reset`);
      await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
      await clickAndLoad(page, page.getByRole('button', { name: 'Send Reset Request' }));
      await page.getByRole('heading', { name: 'Too many requests' }).waitFor();
      assert.ok(!server.log.includes(token), 'the token never reached the log');
    } catch (error) {
      error.message += `\n  server log tail:\n${server.logTail()}\n  smtp: ${smtp.log}`;
      throw error;
    } finally {
      for (const c of ctxs) await c.close().catch(() => {});
      await server.stop();
      await smtp.stop();
    }
  });

  test('TOTP is asked before the new password', { timeout: TEST_TIMEOUT }, async () => {
    const smtp = await Smtp.start(await freePort());
    const server = await Server.start('reset-totp', { extraToml: smtpConfig(smtp.port) });
    const ctx = await newContext(browser);
    const ctx2 = await newContext(browser);
    try {
      let page = await ctx.newPage();
      await signIn(page, server, DEMO.password);
      await page.goto(`${server.url}/security`);
      await clickAndLoad(page, page.getByRole('link', { name: 'Set up authenticator app' }));
      await clickAndLoad(page, page.getByRole('button', { name: 'I Have An App' }));
      const key = (await page.locator('#totp-key').innerText()).trim();
      await clickAndLoad(page, page.getByRole('link', { name: 'Next' }));
      // The current step: if the step turns before the server checks it, it is the
      // previous one, still inside the skew. (A step already past, like -30 s, may be
      // two steps old by then.)
      await page.getByLabel('Code shown in your app').fill(oath(key));
      await clickAndLoad(page, page.getByRole('button', { name: 'Activate' }));
      assert.equal(pathOf(page), '/security');

      // Someone who forgot the password: another browser, not signed in.
      page = await ctx2.newPage();
      await askForReset(page, server, DEMO.email);
      // The first message told the owner the authenticator app was set up.
      const message = (await smtp.waitFor(2)).find((m) => m.includes('/password/reset/new?token='));
      await page.goto(linkIn(message));
      await page.getByRole('heading', { name: 'Verify Your Identity' }).waitFor();
      assert.equal(await page.getByLabel('New password').count(), 0, 'no password form before the code');
      await page.getByLabel('Code from your authenticator app').fill(oath(key, -3600));
      await clickAndLoad(page, page.getByRole('button', { name: 'Verify' }));
      assert.match(await page.getByRole('alert').innerText(), /not correct/);
      // The next step: never the one used at enrolment (each step works once), and
      // inside the skew whenever the server checks it.
      await page.getByLabel('Code from your authenticator app').fill(oath(key, 30));
      await clickAndLoad(page, page.getByRole('button', { name: 'Verify' }));
      await screenshot(page, 'reset-05-after-totp');
      await setNewPassword(page, NEW_PASSWORD);
      await page.getByRole('heading', { name: 'Password reset' }).waitFor();
    } catch (error) {
      error.message += `\n  server log tail:\n${server.logTail()}`;
      throw error;
    } finally {
      await ctx.close().catch(() => {});
      await ctx2.close().catch(() => {});
      await server.stop();
      await smtp.stop();
    }
  });

  test('SMTP down: same answer, failure logged, sent when the server returns', { timeout: TEST_TIMEOUT }, async () => {
    const port = await freePort();
    const server = await Server.start('reset-smtp-down', { extraToml: smtpConfig(port) });
    const ctx = await newContext(browser);
    let smtp;
    try {
      const page = await ctx.newPage();
      await askForReset(page, server, DEMO.email);
      const deadline = Date.now() + 20_000;
      while (!/mail not sent yet; will retry/.test(server.log)) {
        assert.ok(Date.now() < deadline, `no retry logged:\n${server.logTail()}`);
        await sleep(100);
      }
      assert.ok(!/token=/.test(server.log), 'no link in the log');
      smtp = await Smtp.start(port);
      const [message] = await smtp.waitFor(1, 60_000);
      linkIn(message);
      assert.match(server.log, /mail sent/);
    } catch (error) {
      error.message += `\n  server log tail:\n${server.logTail()}`;
      throw error;
    } finally {
      await ctx.close().catch(() => {});
      await server.stop();
      await smtp?.stop();
    }
  });

  test('an expiry reminder is mailed once for a password expiring in 5 days', { timeout: TEST_TIMEOUT }, async () => {
    const smtp = await Smtp.start(await freePort());
    const server = await Server.start('reset-reminder', {
      extraToml: `${smtpConfig(smtp.port)}\n[reset]\nreminder_interval = "1s"\n`,
    });
    try {
      // The demo password was set just now: with a 5-day maximum age it expires in 5 days.
      await server.adminOk('settings', 'set', 'password.max_age_days', '5');
      const [message] = await smtp.waitFor(1);
      assert.match(message, new RegExp(`X-Envelope-To: ${DEMO.email}`));
      assert.match(message, /expires in 5 days/);
      assert.match(message, /\/security/);
      // Several more runs of the task: still one message.
      await sleep(4_000);
      assert.equal((await smtp.messages()).length, 1);
    } catch (error) {
      error.message += `\n  server log tail:\n${server.logTail()}`;
      throw error;
    } finally {
      await server.stop();
      await smtp.stop();
    }
  });

  test('STARTTLS to a server whose certificate a private CA signed', { timeout: TEST_TIMEOUT }, async () => {
    const certs = await makeCerts();
    const smtp = await Smtp.start(await freePort(), certs);
    const server = await Server.start('reset-starttls', {
      extraToml: smtpConfig(smtp.port, { tls: 'starttls', ca: certs.ca }),
    });
    const ctx = await newContext(browser);
    try {
      const page = await ctx.newPage();
      await askForReset(page, server, DEMO.email);
      const [message] = await smtp.waitFor(1);
      linkIn(message);
    } catch (error) {
      error.message += `\n  server log tail:\n${server.logTail()}\n  smtp: ${smtp.log}`;
      throw error;
    } finally {
      await ctx.close().catch(() => {});
      await server.stop();
      await smtp.stop();
      await rm(certs.dir, { recursive: true, force: true });
    }
  });
});
