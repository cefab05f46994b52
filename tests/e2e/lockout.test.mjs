// Issue 14 defect 5 against the real binary: a guessing address gets 429 with
// Retry-After on the password step while the owner, from another address, signs
// in; the administrator's hard mode still locks at the threshold. Two client
// addresses on one machine: Linux routes all of 127.0.0.0/8 to loopback, so the
// "owner" connects from 127.0.0.2 and the "attacker" from 127.0.0.1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { DEMO, PORTAL_HOST, Server } from './harness.mjs';

const TEST_TIMEOUT = 120_000;

/** A cookie-keeping HTTPS client bound to one source address. */
class Client {
  constructor(server, localAddress) {
    this.server = server;
    this.localAddress = localAddress;
    this.cookies = new Map();
  }

  request(method, urlPath, form = null) {
    const body = form ? new URLSearchParams(form).toString() : null;
    const headers = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== null) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = Buffer.byteLength(body);
      headers.origin = `https://${PORTAL_HOST}:${this.server.port}`;
    }
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: this.server.port,
          localAddress: this.localAddress,
          method,
          path: urlPath,
          servername: PORTAL_HOST,
          rejectUnauthorized: false,
          headers,
          timeout: 10_000,
        },
        (res) => {
          for (const c of res.headers['set-cookie'] ?? []) {
            const [pair] = c.split(';');
            const i = pair.indexOf('=');
            const [name, value] = [pair.slice(0, i), pair.slice(i + 1)];
            if (!value || /Max-Age=0/i.test(c)) this.cookies.delete(name);
            else this.cookies.set(name, value);
          }
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
      req.on('error', reject);
      if (body !== null) req.write(body);
      req.end();
    });
  }

  csrfOf(page) {
    const m = page.body.match(/name="csrf" value="([^"]+)"/);
    assert.ok(m, `a CSRF token on the page (status ${page.status})`);
    return m[1];
  }

  /** Both sign-in steps; the answer to the password step. */
  async signIn(email, password) {
    const login = await this.request('GET', '/login');
    const step1 = await this.request('POST', '/login', { csrf: this.csrfOf(login), email, return_to: '' });
    assert.equal(step1.headers.location, '/login/password', `email step: ${step1.status}`);
    const form = await this.request('GET', '/login/password');
    return this.request('POST', '/login/password', { csrf: this.csrfOf(form), password });
  }
}

describe('sign-in abuse limits (real binary)', () => {
  let server;
  before(async () => {
    server = await Server.start('lockout');
  });
  after(async () => {
    await server?.stop();
  });

  test('an attacker address gets 429 and Retry-After; the owner signs in from another', { timeout: TEST_TIMEOUT }, async () => {
    const attacker = new Client(server, '127.0.0.1');
    for (let i = 0; i < 5; i++) {
      const r = await attacker.signIn(DEMO.email, `Wrong-Passw0rd-${i}!`);
      assert.equal(r.status, 401, `attempt ${i}`);
      assert.ok(r.body.includes('Incorrect email or password.'));
    }
    const limited = await attacker.signIn(DEMO.email, DEMO.password);
    assert.equal(limited.status, 429, 'even the right password waits');
    const wait = Number(limited.headers['retry-after']);
    assert.ok(wait >= 1 && wait <= 60, `Retry-After ${limited.headers['retry-after']}`);
    assert.match(limited.body, /Too many failed sign-in attempts\. Wait (1 minute|\d+ seconds) before you try again\./);

    const owner = new Client(server, '127.0.0.2');
    const ok = await owner.signIn(DEMO.email, DEMO.password);
    assert.equal(ok.status, 303, ok.body.slice(0, 300));
    assert.equal(ok.headers.location, '/apps');
    // An unknown email from the attacker's address reads the same: the
    // address has spent only the account's budget, so it is still 401 there.
    const unknown = await attacker.signIn('nobody@example.com', 'Wrong-Passw0rd!');
    assert.equal(unknown.status, 401);
  });

  test('an empty password is a validation message', { timeout: TEST_TIMEOUT }, async () => {
    const c = new Client(server, '127.0.0.3');
    const r = await c.signIn(DEMO.email, '   ');
    assert.equal(r.status, 400);
    assert.ok(r.body.includes('Enter your password.'));
  });

  test('hard mode: the administrator\'s threshold locks the account everywhere', { timeout: TEST_TIMEOUT }, async () => {
    await server.adminOk('settings', 'set', 'lockout.mode', 'hard');
    await server.adminOk('settings', 'set', 'lockout.threshold', '2');
    const email = 'hard.lock@example.com';
    const password = 'Quiet-Lantern-4821!';
    await server.adminOk('users', 'add', '--email', email, '--first-name', 'Hard', '--last-name', 'Lock', '--password', password);
    const attacker = new Client(server, '127.0.0.4');
    for (let i = 0; i < 2; i++) assert.equal((await attacker.signIn(email, 'Wrong-Passw0rd!')).status, 401);
    const owner = new Client(server, '127.0.0.5');
    const r = await owner.signIn(email, password);
    assert.ok(r.body.includes('This account is locked after too many failed attempts. Reset your password (Reset User Password) to unlock it, or ask your administrator to unlock it.'), r.body.slice(0, 300));
  });
});
