// SCIM 2.0 provisioning against the real binary: a provisioning client made with the admin
// CLI, PyPI's scim2-tester checking RFC 7643/7644 compliance (every check must pass; only what
// the ServiceProviderConfig declares unsupported may be skipped) and scim2-client driving a
// provisioning flow (tests/e2e/scim_check.py), then a user provisioned over SCIM appearing in
// the admin CLI, in OpenLDAP's ldapsearch results (with the group SCIM put them in), signing
// in at the portal, entering a gateway application, and losing that gateway session and
// their LDAP bind when SCIM deactivates them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, PORTAL_HOST, Server, freePort, httpsGet, launchBrowser, newContext, request, screenshot } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = path.resolve(here, '../.venv/bin/python');
const TEST_TIMEOUT = 240_000;
const PASSWORD = 'Amber-Forest-2618!';
const BASE = 'dc=example,dc=com';
const SAM = 'sam.provisioned@example.com';
const SAM_DN = `mail=${SAM},ou=users,${BASE}`;

/** OpenLDAP's ldapsearch, bound as `dn`; resolves to { code, stdout, stderr } (never rejects). */
function ldapsearch(env, port, dn, password, ...rest) {
  const args = ['-LLL', '-x', '-H', `ldaps://127.0.0.1:${port}`, '-D', dn, '-w', password, ...rest];
  return new Promise((resolve) => {
    execFile('ldapsearch', args, { env, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Runs scim_check.py; resolves to {code, out}. */
function runChecker(port, token) {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [path.join(here, 'scim_check.py'), String(port), `${PORTAL_HOST}:${port}`, token], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

async function clickAndLoad(page, locator) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await locator.click();
  await navigated;
  await page.waitForLoadState('load');
}

describe('SCIM provisioning', { timeout: TEST_TIMEOUT }, () => {
  let server;
  let upstream;
  let browser;
  let token;
  let ldaps;
  let ldapEnv;

  const scim = (method, urlPath, body, headers = {}) =>
    request(server.port, method, `/scim/v2${urlPath}`, {
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/scim+json',
        ...headers,
      },
      body: body ? JSON.stringify(body) : null,
    });

  before(async () => {
    assert.ok(existsSync(PYTHON), `${PYTHON} missing: run scripts/install-deps.sh test`);
    upstream = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ email: req.headers['x-portcullis-email'] ?? null }));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    ldaps = await freePort();
    server = await Server.start('scim', {
      extraToml: `
[ldap]
listen = "127.0.0.1:${ldaps}"
base_dn = "${BASE}"
`,
      policies: {
        docs: `name = "Docs"
host = "docs.localhost"
upstreams = ["127.0.0.1:${upstream.address().port}"]
everyone = true
`,
      },
    });
    ldapEnv = { ...process.env, LDAPTLS_CACERT: path.join(server.dataDir, 'certs', 'ca.pem'), LDAPTLS_REQCERT: 'demand' };
    const added = await server.adminOk('--json', 'scim-clients', 'add', 'e2e');
    token = JSON.parse(added.stdout).token;
    assert.match(token, /^pcs_/);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    upstream?.close();
  });

  test('scim2-tester finds no failed check and scim2-client completes its flow', async () => {
    const { code, out } = await runChecker(server.port, token);
    const summary = out.trim().split('\n').at(-1);
    assert.equal(code, 0, `scim_check.py exited ${code}:\n${out.split('\n').filter((l) => !l.startsWith('ok ')).join('\n')}`);
    assert.match(summary, /^\d+ passed, 0 failed, 0 skipped$/, out);
    assert.ok(Number(summary.split(' ')[0]) > 50, summary);
  });

  test('no token, a wrong token and a revoked one get 401 with a SCIM error', async () => {
    const none = await request(server.port, 'GET', '/scim/v2/Users');
    assert.equal(none.status, 401);
    assert.equal(JSON.parse(none.body).schemas[0], 'urn:ietf:params:scim:api:messages:2.0:Error');
    const spare = JSON.parse((await server.adminOk('--json', 'scim-clients', 'add', 'spare')).stdout).token;
    const withSpare = () => request(server.port, 'GET', '/scim/v2/Users', { headers: { authorization: `Bearer ${spare}` } });
    assert.equal((await withSpare()).status, 200);
    await server.adminOk('scim-clients', 'revoke', 'spare');
    assert.equal((await withSpare()).status, 401);
    const listed = await server.adminOk('scim-clients', 'list');
    assert.match(listed.stdout, /spare .* revoked/);
    assert.ok(!listed.stdout.includes(spare), 'the token is never listed');
  });

  test('a provisioned user shows in the CLI and in LDAP, signs in, and deactivation ends their gateway session and LDAP bind', async () => {
    const created = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: SAM,
      name: { givenName: 'Sam', familyName: 'Provisioned' },
      emails: [{ value: SAM, type: 'work', primary: true }],
      active: true,
    });
    assert.equal(created.status, 201, created.body);
    const id = JSON.parse(created.body).id;
    const group = await scim('POST', '/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'Field Team',
      members: [{ value: id }],
    });
    assert.equal(group.status, 201, group.body);

    const shown = JSON.parse((await server.adminOk('--json', 'users', 'show', SAM)).stdout);
    assert.equal(shown.id, id);
    const audit = (await server.adminOk('audit', '--limit', '20')).stdout;
    assert.match(audit, /admin\.user\.add/);

    // No password came over SCIM; the administrator (or a reset link) gives one.
    const set = spawn(
      BIN,
      ['admin', '--config', server.configPath, 'users', 'set-password', SAM, '--password-stdin'],
      { stdio: ['pipe', 'ignore', 'inherit'] },
    );
    set.stdin.end(`${PASSWORD}\n`);
    const [setCode] = await once(set, 'exit');
    assert.equal(setCode, 0, 'set-password');

    // LDAP reads the same directory: the provisioned user binds as themselves and finds
    // their entry, with the names SCIM sent and the group SCIM made.
    const found = await ldapsearch(ldapEnv, ldaps, SAM_DN, PASSWORD, '-b', `ou=users,${BASE}`, `(mail=${SAM})`, 'cn', 'givenName', 'sn', 'memberOf');
    assert.equal(found.code, 0, found.stderr);
    const entry = found.stdout.replace(/\n /g, '');
    assert.match(entry, new RegExp(`^dn: ${SAM_DN}$`, 'm'));
    assert.match(entry, /^givenName: Sam$/m);
    assert.match(entry, /^sn: Provisioned$/m);
    assert.match(entry, new RegExp(`^memberOf: cn=Field Team,ou=groups,${BASE}$`, 'm'));

    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/login`);
      await page.getByLabel('Email', { exact: true }).fill(SAM);
      await clickAndLoad(page, page.getByRole('button', { name: 'Continue', exact: true }));
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await clickAndLoad(page, page.getByRole('button', { name: 'Login', exact: true }));
      await page.goto(server.appUrl('docs.localhost', '/'));
      await page.waitForURL((u) => u.host === `docs.localhost:${server.port}`);
      assert.equal(JSON.parse(await page.locator('body').innerText()).email, SAM);
      const cookie = (await context.cookies(server.appUrl('docs.localhost', '/'))).find((c) => c.name.endsWith('portcullis_app'));
      assert.ok(cookie, 'the gateway gave docs its cookie');
      const withCookie = () =>
        httpsGet(server.port, '/', {
          host: 'docs.localhost',
          headers: { cookie: `${cookie.name}=${cookie.value}`, accept: 'application/json' },
        });
      assert.equal((await withCookie()).status, 200);

      // Entra ID's deactivation.
      const off = await scim('PATCH', `/Users/${id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
      });
      assert.equal(off.status, 200, off.body);
      assert.equal(JSON.parse(off.body).active, false);

      // The gateway's cache (1 s TTL by default) lets go of the session; wait on that, bounded.
      const deadline = Date.now() + 10_000;
      let last;
      for (;;) {
        last = await withCookie();
        if (last.status !== 200) break;
        assert.ok(Date.now() < deadline, 'the gateway session outlived the deactivation by 10 s');
        await sleep(100);
      }
      assert.notEqual(last.status, 200);
      const locked = JSON.parse((await server.adminOk('--json', 'users', 'show', SAM)).stdout);
      assert.ok(locked.locked, JSON.stringify(locked));
      // ldapsearch exits 49 for invalidCredentials: a deactivated user no longer binds.
      const refused = await ldapsearch(ldapEnv, ldaps, SAM_DN, PASSWORD, '-b', `ou=users,${BASE}`, `(mail=${SAM})`);
      assert.equal(refused.code, 49, refused.stdout + refused.stderr);
    } catch (e) {
      await screenshot(page, 'scim-deactivation');
      throw e;
    } finally {
      await context.close();
    }
  });
});
