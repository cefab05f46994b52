// Interoperability of the SAML identity provider with two independent service provider
// libraries in Python, through the real binary and Debian's Chromium: pysaml2 (signatures
// checked by Debian's xmlsec1) and OneLogin's python3-saml (xmlsec binding, strict, with
// rejectDeprecatedAlgorithm). Each SP registers from its own metadata through
// `portcullis admin saml-sps import-metadata`, signs its AuthnRequests, and validates our
// Responses (signatures, audience, recipient, times, InResponseTo). SP-initiated and
// IdP-initiated (portal tile) sign-in, a NameID changed after signing (both SPs refuse it),
// and single logout in both directions with python3-saml.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO, Server, freePort, httpsGet, launchBrowser, newContext, screenshot } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = path.resolve(here, '../.venv/bin/python');
const SP_DIR = path.resolve(here, '../saml');

/** Starts one SP app on a free port; resolves once it prints its ready line. */
async function startSp(script, idpMetadata) {
  const port = await freePort();
  const workdir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-e2e-sp-'));
  const child = spawn(PYTHON, [path.join(SP_DIR, script), String(port), idpMetadata, workdir], {
    cwd: SP_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (c) => (log += c.toString()));
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${log}`)), 60_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited ${code}:\n${log}`)));
  });
  return {
    ...ready,
    base: `http://127.0.0.1:${port}`,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await rm(workdir, { recursive: true, force: true });
    },
  };
}

async function signIn(page) {
  await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
  await page.getByRole('button', { name: 'Continue', exact: true }).click();
  await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
  await page.getByRole('button', { name: 'Login', exact: true }).click();
}

/** The lines of the SP's result page as a map (key=value). */
async function spResult(page, heading) {
  await page.getByRole('heading', { name: heading }).waitFor();
  const text = await page.locator('#out').innerText();
  return Object.fromEntries(text.split('\n').map((l) => [l.split('=')[0], l.slice(l.indexOf('=') + 1)]));
}

/** Changes the NameID of the Response posted to `acs` before the SP sees it. */
async function tamperNameId(page, acs) {
  await page.route(acs, async (route) => {
    const form = new URLSearchParams(route.request().postData() ?? '');
    const xml = Buffer.from(form.get('SAMLResponse'), 'base64').toString();
    const changed = xml.replaceAll(DEMO.email, 'mallory@example.com');
    assert.notEqual(changed, xml);
    form.set('SAMLResponse', Buffer.from(changed).toString('base64'));
    await route.continue({ postData: form.toString() });
  });
}

describe('SAML IdP with pysaml2 and python3-saml', () => {
  let server;
  let browser;
  let workdir;
  let pysaml;
  let onelogin;

  before(async () => {
    server = await Server.start('saml');
    workdir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-e2e-saml-'));
    const md = await httpsGet(server.port, '/saml/metadata');
    assert.equal(md.status, 200);
    const mdPath = path.join(workdir, 'idp-metadata.xml');
    await writeFile(mdPath, md.body);
    [pysaml, onelogin] = await Promise.all([startSp('sp_pysaml2.py', mdPath), startSp('sp_onelogin.py', mdPath)]);
    await server.adminOk('saml-sps', 'import-metadata', onelogin.metadata, '--application', 'Team Wiki', '--relay-state', 'tile-onelogin');
    await server.adminOk('saml-sps', 'import-metadata', pysaml.metadata, '--application', 'Expense Reports', '--relay-state', 'tile-pysaml2');
    const listed = JSON.parse((await server.adminOk('--json', 'saml-sps', 'list')).stdout);
    assert.deepEqual(listed.map((s) => s.require_signed_requests), [true, true]);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await pysaml?.stop();
    await onelogin?.stop();
    await server?.stop();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  test('SP-initiated: sign-in at the portal, then both SPs accept the signed response', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await page.goto(`${onelogin.base}/login?relay=hello`);
      await page.waitForURL((u) => u.pathname === '/login');
      await signIn(page);
      const r = await spResult(page, 'SAML OK python3-saml');
      assert.equal(r.nameid, DEMO.email);
      assert.equal(r.relay, 'hello');
      assert.match(r.irt, /^ONELOGIN_/);
      assert.equal(r.email, DEMO.email);
      assert.equal(r.firstName, DEMO.firstName);
      assert.equal(r.authn_context, 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport');
      await screenshot(page, 'saml-onelogin-sp-initiated');

      // Already signed in at the portal: straight through.
      await page.goto(`${pysaml.base}/login?relay=again`);
      const p = await spResult(page, 'SAML OK pysaml2');
      assert.equal(p.nameid, DEMO.email);
      assert.equal(p.relay, 'again');
      assert.notEqual(p.irt, 'None');
      assert.equal(p.lastName, DEMO.lastName, JSON.stringify(p));
      assert.deepEqual(context.blocked, []);
    } finally {
      await context.close();
    }
  });

  test('IdP-initiated from the portal tiles', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/apps`);
      await signIn(page);
      await page.waitForURL((u) => u.pathname === '/apps');
      await page.getByRole('link', { name: 'Team Wiki' }).first().click();
      const r = await spResult(page, 'SAML OK python3-saml');
      assert.equal(r.nameid, DEMO.email);
      assert.equal(r.irt, 'None');
      assert.equal(r.relay, 'tile-onelogin');

      await page.goto(`${server.url}/apps`);
      await page.getByRole('link', { name: 'Expense Reports' }).first().click();
      const p = await spResult(page, 'SAML OK pysaml2');
      assert.equal(p.irt, 'None');
      assert.equal(p.relay, 'tile-pysaml2');
    } finally {
      await context.close();
    }
  });

  test('a NameID changed after signing is refused by both SPs', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await tamperNameId(page, `${onelogin.base}/acs`);
      await tamperNameId(page, `${pysaml.base}/acs`);
      await page.goto(`${onelogin.base}/login`);
      await signIn(page);
      await page.getByRole('heading', { name: 'SAML ERROR' }).waitFor();
      assert.doesNotMatch(await page.locator('#out').innerText(), /mallory/);
      await page.goto(`${pysaml.base}/login`);
      await page.getByRole('heading', { name: 'SAML ERROR' }).waitFor();
      await screenshot(page, 'saml-pysaml2-tampered');
    } finally {
      await context.close();
    }
  });

  test('single logout: SP-initiated ends the portal session; portal logout tells the SP', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await page.goto(`${onelogin.base}/login`);
      await signIn(page);
      await spResult(page, 'SAML OK python3-saml');
      // SP-initiated: the SP's signed LogoutRequest; our signed LogoutResponse.
      await page.goto(`${onelogin.base}/logout`);
      await page.getByRole('heading', { name: 'SAML LOGGED OUT python3-saml' }).waitFor();
      await page.goto(`${server.url}/apps`);
      await page.waitForURL((u) => u.pathname === '/login');

      // Portal logout: the SP gets our LogoutRequest and answers; back at the sign-in page.
      await page.goto(`${onelogin.base}/login`);
      await signIn(page);
      await spResult(page, 'SAML OK python3-saml');
      await page.goto(`${server.url}/apps`);
      await page.getByRole('button', { name: 'Account menu' }).click();
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.waitForURL((u) => u.pathname === '/login' && u.search === '?signed_out=1');
      assert.match(onelogin.log(), /GET \/slo\?SAMLRequest=/);
      await page.goto(`${server.url}/apps`);
      await page.waitForURL((u) => u.pathname === '/login');
    } finally {
      await context.close();
    }
  });

  test('an ACS that answers the POST with a redirect to another origin is reached (Chromium form-action)', async () => {
    // Chromium applies the posting page's form-action to every redirect that
    // follows the submission: the ACS (127.0.0.1) sends the browser on to the
    // application's host (localhost), as SPs whose ACS redirects to the app do.
    const appPort = await freePort();
    const acsPort = await freePort();
    const app = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>app</title><h1>APP REACHED</h1>');
    });
    const acs = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(303, { location: `http://localhost:${appPort}/after-acs` });
        res.end();
      });
    });
    await Promise.all([
      new Promise((r) => app.listen(appPort, '127.0.0.1', r)),
      new Promise((r) => acs.listen(acsPort, '127.0.0.1', r)),
    ]);
    const entity = `http://127.0.0.1:${acsPort}/metadata`;
    await server.adminOk('saml-sps', 'add', '--entity-id', entity, '--acs', `http://127.0.0.1:${acsPort}/acs`, '--application', 'Team Wiki');
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/apps`);
      await signIn(page);
      await page.waitForURL((u) => u.pathname === '/apps');
      await page.goto(`${server.url}/saml/idp-init?sp=${encodeURIComponent(entity)}`);
      await page.getByRole('heading', { name: 'APP REACHED' }).waitFor({ timeout: 15_000 });
      assert.equal(new URL(page.url()).host, `localhost:${appPort}`);
    } finally {
      await context.close();
      await server.adminOk('saml-sps', 'remove', entity);
      app.close();
      acs.close();
    }
  });

  test('an SP that is not registered, and a broken request, get an error page', async () => {
    const bad = await httpsGet(server.port, '/saml/sso?SAMLRequest=%%%');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /could not be read/);
    const unknown = await httpsGet(server.port, '/saml/idp-init?sp=https%3A%2F%2Fnope.example');
    assert.equal(unknown.status, 404);
  });
});
