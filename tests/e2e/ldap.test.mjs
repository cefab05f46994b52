// The LDAP interface of the real binary, driven by OpenLDAP's own clients
// (`ldapwhoami`, `ldapsearch` from Debian's ldap-utils) and Python's ldap3 over LDAPS and
// StartTLS, trusting the development CA through LDAPTLS_CACERT. The SSH key
// comes from the portal's Security page, as a user adds it, and is read back
// the way an OpenSSH AuthorizedKeysCommand does. Each positive has its
// negative twin: wrong password, locked user, anonymous bind, a filter
// injection, a search outside the base, oversized requests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DEMO, Server, ed25519PublicKey, freePort, launchBrowser, newContext } from './harness.mjs';

const TEST_TIMEOUT = 60_000;
const BASE = 'dc=example,dc=com';
const DEMO_DN = `mail=${DEMO.email},ou=users,${BASE}`;
const BOB = 'bob@example.com';
const BOB_DN = `mail=${BOB},ou=users,${BASE}`;
const BOB_PASSWORD = 'Green-Valley-9153!';
const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = path.resolve(here, '../.venv/bin/python');

let server;
let ldaps;
let starttls;
let env;

/** Runs an ldap-utils tool; resolves to { code, stdout, stderr } (never rejects). */
function tool(name, args) {
  return new Promise((resolve) => {
    execFile(name, args, { env, timeout: 20_000, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const overLdaps = (dn, pw) => ['-x', '-H', `ldaps://127.0.0.1:${ldaps}`, ...(dn === null ? [] : ['-D', dn, '-w', pw])];
const search = (dn, pw, ...rest) => tool('ldapsearch', ['-LLL', ...overLdaps(dn, pw), ...rest]);

/** `attr: value` lines of LDIF output (unfolded). */
function values(ldif, attr) {
  return ldif
    .replace(/\n /g, '')
    .split('\n')
    .filter((l) => l.toLowerCase().startsWith(`${attr.toLowerCase()}: `))
    .map((l) => l.slice(attr.length + 2));
}

/** The filter-value escaping of RFC 4515, as an application must do it. */
const escapeValue = (v) => v.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** Signs the demo user in and adds an SSH key on the Security page. */
async function addKeyInPortal(publicKey) {
  const browser = await launchBrowser();
  try {
    const page = await (await newContext(browser)).newPage();
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
    await page.getByRole('button', { name: 'Login', exact: true }).click();
    await page.waitForURL(/\/apps$/);
    await page.goto(`${server.url}/security`);
    await page.getByLabel('Key name', { exact: true }).fill('laptop');
    await page.getByLabel('Public key', { exact: true }).fill(publicKey);
    await page.getByRole('button', { name: 'Add SSH key' }).click();
    await page.getByText('laptop').first().waitFor();
  } finally {
    await browser.close();
  }
}

/**
 * Debian's Apache with mod_authnz_ldap protecting /staff/ with `Require
 * ldap-group`: it finds the user with a service account's search, binds as
 * them, then compares the group's `member`. Its LDAP caches are off, so
 * every request asks the directory.
 */
async function startApache(ldapsPort, caFile, bindDn, bindKey) {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-apache-'));
  // Apache's children run as www-data when started as root.
  await chmod(dir, 0o755);
  await mkdir(path.join(dir, 'htdocs', 'staff'), { recursive: true });
  await writeFile(path.join(dir, 'htdocs', 'staff', 'index.html'), 'staff only\n');
  await copyFile(caFile, path.join(dir, 'ca.pem'));
  const conf = path.join(dir, 'httpd.conf');
  const mod = (name, file) => `LoadModule ${name}_module /usr/lib/apache2/modules/mod_${file ?? name}.so`;
  await writeFile(conf, `${mod('mpm_event')}
${mod('authn_core')}
${mod('authz_core')}
${mod('auth_basic')}
${mod('ldap')}
${mod('authnz_ldap')}
${process.getuid?.() === 0 ? 'User www-data\nGroup www-data' : ''}
ServerName localhost
Listen 127.0.0.1:${port}
PidFile ${dir}/httpd.pid
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
ErrorLog ${dir}/error.log
LogLevel warn authnz_ldap:info
DocumentRoot ${dir}/htdocs
LDAPTrustedGlobalCert CA_BASE64 ${dir}/ca.pem
LDAPVerifyServerCert On
LDAPCacheEntries 0
LDAPOpCacheEntries 0
<Location "/staff/">
  AuthType Basic
  AuthName "Staff"
  AuthBasicProvider ldap
  AuthLDAPURL "ldaps://127.0.0.1:${ldapsPort}/ou=users,${BASE}?uid?sub?(objectClass=person)"
  AuthLDAPBindDN "${bindDn}"
  AuthLDAPBindPassword "${bindKey}"
  AuthLDAPGroupAttribute member
  AuthLDAPGroupAttributeIsDN on
  Require ldap-group cn=Staff,ou=groups,${BASE}
</Location>
`);
  const child = spawn('/usr/sbin/apache2', ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const code = await Promise.race([exited, sleep(0, null)]);
    if (code !== null) throw new Error(`apache2 exited ${code} before listening: ${stderr}`);
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(() => resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`apache2 did not listen on ${port}: ${stderr}`);
    }
    await sleep(50);
  }
  return {
    /** GET /staff/ with Basic credentials (or none); resolves to the status. */
    get(user, password) {
      const headers = user ? { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } : {};
      return new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/staff/index.html', headers, timeout: 15_000 }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode));
          })
          .on('error', reject);
      });
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('LDAP with real clients', { timeout: TEST_TIMEOUT * 4 }, () => {
  before(async () => {
    ldaps = await freePort();
    starttls = await freePort();
    server = await Server.start('ldap', {
      extraToml: `
[ldap]
listen = "127.0.0.1:${ldaps}"
starttls = "127.0.0.1:${starttls}"
base_dn = "${BASE}"
posix = true
`,
    });
    env = { ...process.env, LDAPTLS_CACERT: path.join(server.dataDir, 'certs', 'ca.pem'), LDAPTLS_REQCERT: 'demand' };
    await server.adminOk('users', 'add', '--email', BOB, '--first-name', 'Bob', '--last-name', 'Stone', '--password', BOB_PASSWORD);
  });
  after(async () => {
    await server?.stop();
  });

  test('ldapwhoami binds as a user over LDAPS; a wrong password and anonymous binds are refused', async () => {
    const ok = await tool('ldapwhoami', overLdaps(DEMO_DN, DEMO.password));
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), `dn:${DEMO_DN}`);

    const wrong = await tool('ldapwhoami', overLdaps(DEMO_DN, 'Wrong-Passw0rd!'));
    assert.equal(wrong.code, 49, wrong.stderr);
    assert.match(wrong.stderr, /Invalid credentials/);

    const anonymous = await tool('ldapwhoami', overLdaps(null));
    assert.equal(anonymous.code, 48, anonymous.stderr);
  });

  test('StartTLS: -ZZ binds and searches; the same bind in clear is refused', async () => {
    const url = `ldap://127.0.0.1:${starttls}`;
    const ok = await tool('ldapsearch', ['-LLL', '-x', '-ZZ', '-H', url, '-D', DEMO_DN, '-w', DEMO.password, '-b', BASE, '(uid=bob)', 'mail']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(values(ok.stdout, 'mail'), [BOB]);

    const clear = await tool('ldapwhoami', ['-x', '-H', url, '-D', DEMO_DN, '-w', DEMO.password]);
    assert.equal(clear.code, 13, clear.stderr);
    assert.match(clear.stderr, /Confidentiality required/);
  });

  test('search users, groups and memberOf; a user sees basics of others, not their phone', async () => {
    const users = await search(DEMO_DN, DEMO.password, '-b', `ou=users,${BASE}`, '(objectClass=inetOrgPerson)', 'uid', 'memberOf', 'telephoneNumber', 'uidNumber');
    assert.equal(users.code, 0, users.stderr);
    assert.deepEqual(values(users.stdout, 'dn').sort(), [BOB_DN, DEMO_DN].sort());
    assert.deepEqual(values(users.stdout, 'memberOf'), [`cn=Staff,ou=groups,${BASE}`]);
    assert.deepEqual(values(users.stdout, 'telephoneNumber'), ['+1 555 0100'], "only the demo user's own");
    assert.equal(values(users.stdout, 'uidNumber').length, 2);

    const groups = await search(DEMO_DN, DEMO.password, '-b', `ou=groups,${BASE}`, '(cn=Staff)', 'member', 'gidNumber');
    assert.equal(groups.code, 0, groups.stderr);
    assert.deepEqual(values(groups.stdout, 'member'), [DEMO_DN]);
    assert.equal(values(groups.stdout, 'gidNumber').length, 1);
  });

  test('a filter injection finds nothing and reveals nothing', async () => {
    // What an application that splices typed text into (uid=...) must send.
    const typed = '*)(|(objectClass=*';
    const escaped = await search(DEMO_DN, DEMO.password, '-b', BASE, `(uid=${escapeValue(typed)})`, 'uid');
    assert.equal(escaped.code, 0, escaped.stderr);
    assert.equal(values(escaped.stdout, 'dn').length, 0, escaped.stdout);
    // Unescaped, the widened filter still reads only what the user may read.
    const widened = await search(DEMO_DN, DEMO.password, '-b', BASE, '(|(uid=bob)(telephoneNumber=*))', 'telephoneNumber');
    assert.equal(widened.code, 0, widened.stderr);
    assert.deepEqual(values(widened.stdout, 'telephoneNumber'), ['+1 555 0100']);
  });

  test('a search outside the base is refused with noSuchObject', async () => {
    const res = await search(DEMO_DN, DEMO.password, '-b', 'dc=other,dc=com', '(objectClass=*)');
    assert.equal(res.code, 32, res.stderr);
  });

  test('paged search returns every entry across pages', async () => {
    const res = await search(DEMO_DN, DEMO.password, '-E', 'pr=1/noprompt', '-b', BASE, '(objectClass=person)', 'uid');
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(values(res.stdout, 'uid').sort(), ['bob', 'dreyes']);
    assert.ok((res.stdout.match(/pagedresults: cookie=/g) ?? []).length >= 2, res.stdout);
  });

  test('a service account reads SSH keys added in the portal, as AuthorizedKeysCommand would', async () => {
    const { publicKey } = await ed25519PublicKey();
    await addKeyInPortal(publicKey);
    const add = await server.adminOk('ldap-accounts', 'add', 'sshd', '--grant', 'users', '--json');
    const account = JSON.parse(add.stdout);
    assert.equal(account.bind_dn, `cn=sshd,ou=services,${BASE}`);

    const keys = await search(account.bind_dn, account.key, '-b', `ou=users,${BASE}`, '(&(objectClass=posixAccount)(uid=dreyes))', 'sshPublicKey');
    assert.equal(keys.code, 0, keys.stderr);
    assert.deepEqual(values(keys.stdout, 'sshPublicKey'), [publicKey]);
    // Bob has no key; the demo user's key is not on his entry.
    const none = await search(account.bind_dn, account.key, '-b', `ou=users,${BASE}`, '(uid=bob)', 'sshPublicKey');
    assert.deepEqual(values(none.stdout, 'sshPublicKey'), []);

    const listed = await server.adminOk('ldap-accounts', 'list');
    assert.match(listed.stdout, /sshd\s+users/);
    assert.doesNotMatch(listed.stdout, /pcl_ldap_/, 'the key is never listed');
    await server.adminOk('ldap-accounts', 'revoke', 'sshd');
    const revoked = await tool('ldapwhoami', overLdaps(account.bind_dn, account.key));
    assert.equal(revoked.code, 49, revoked.stderr);
  });

  test("Python's ldap3: bind, whoami, paged search and groups over LDAPS and StartTLS; a wrong password is refused", async () => {
    const ca = env.LDAPTLS_CACERT;
    const py = async (...args) => {
      const res = await tool(PYTHON, [path.join(here, 'ldap_client.py'), ...args]);
      assert.equal(res.code, 0, res.stderr);
      return JSON.parse(res.stdout);
    };
    for (const [url, mode] of [[`ldaps://127.0.0.1:${ldaps}`, ''], [`ldap://127.0.0.1:${starttls}`, 'starttls']]) {
      const ok = await py(url, ca, DEMO_DN, DEMO.password, BASE, mode);
      assert.equal(ok.bound, true, JSON.stringify(ok));
      assert.equal(ok.whoami, `dn:${DEMO_DN}`);
      assert.deepEqual(ok.uids, ['bob', 'dreyes']);
      assert.deepEqual(ok.members, [DEMO_DN]);
      assert.deepEqual(ok.naming_contexts, [BASE]);
    }
    const wrong = await py(`ldaps://127.0.0.1:${ldaps}`, ca, DEMO_DN, 'Wrong-Passw0rd!', BASE);
    assert.deepEqual([wrong.bound, wrong.code], [false, 49]);
  });

  test('Apache mod_authnz_ldap: Require ldap-group lets a Staff member in and keeps others out', async () => {
    const add = await server.adminOk('ldap-accounts', 'add', 'apache', '--json');
    const account = JSON.parse(add.stdout);
    const apache = await startApache(ldaps, env.LDAPTLS_CACERT, account.bind_dn, account.key);
    try {
      assert.equal(await apache.get(null), 401, 'no credentials');
      assert.equal(await apache.get('dreyes', 'Wrong-Passw0rd!'), 401, 'wrong password');
      assert.equal(await apache.get('bob', BOB_PASSWORD), 401, 'right password, not in Staff');
      assert.equal(await apache.get('dreyes', DEMO.password), 200, 'a Staff member');
      // The group decides, at once: Bob in Staff gets in, out of it he does not.
      await server.adminOk('groups', 'add-member', 'Staff', BOB);
      assert.equal(await apache.get('bob', BOB_PASSWORD), 200, 'Bob added to Staff');
      await server.adminOk('groups', 'remove-member', 'Staff', BOB);
      assert.equal(await apache.get('bob', BOB_PASSWORD), 401, 'Bob removed again');
    } finally {
      await apache.stop();
    }
  });

  test('a locked user cannot bind; unlocked they can', async () => {
    assert.equal((await tool('ldapwhoami', overLdaps(BOB_DN, BOB_PASSWORD))).code, 0);
    await server.adminOk('users', 'lock', BOB);
    const locked = await tool('ldapwhoami', overLdaps(BOB_DN, BOB_PASSWORD));
    assert.equal(locked.code, 49, locked.stderr);
    await server.adminOk('users', 'unlock', BOB);
    assert.equal((await tool('ldapwhoami', overLdaps(BOB_DN, BOB_PASSWORD))).code, 0);
  });

  test('oversized requests close the connection, before and after a bind', async () => {
    // A bind DN past the 4 KiB bound for unbound connections.
    const longDn = `mail=${'a'.repeat(5000)}@example.com,ou=users,${BASE}`;
    const before = await tool('ldapwhoami', overLdaps(longDn, 'x'));
    assert.notEqual(before.code, 0);
    assert.doesNotMatch(before.stderr, /Invalid credentials/, 'refused for its size, not checked');
    // A filter past max_message_bytes (64 KiB) after a good bind.
    const after = await search(DEMO_DN, DEMO.password, '-b', BASE, `(uid=${'a'.repeat(70_000)})`, 'uid');
    assert.notEqual(after.code, 0);
    // The listener still serves everyone else.
    assert.equal((await tool('ldapwhoami', overLdaps(DEMO_DN, DEMO.password))).code, 0);
  });
});
