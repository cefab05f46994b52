// End-to-end tests of the gateway (issue 5): the real binary proxying small upstream
// HTTP servers started here, driven by headless Chromium and by plain HTTPS clients.
// Covered: redirect without a session then access after sign-in, the per-host cookie
// handshake for a second application, spoofed X-Portcullis-* headers stripped, group
// denial, 401 JSON for API clients, the step-up redirect for a stale MFA, an
// upgraded (WebSocket-style) connection passed through, and X-Portcullis-Assertion
// verified with npm `jose` against the JWKS the discovery document names (forged,
// replayed and tampered assertions refused).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import { SignJWT, createLocalJWKSet, decodeJwt, generateKeyPair, jwtVerify } from 'jose';
import { DEMO, Server, httpsGet, launchBrowser, newContext, screenshot } from './harness.mjs';

const TEST_TIMEOUT = 300_000;

/** An upstream that answers every request with the headers it received, as JSON. */
async function echoUpstream(name) {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ upstream: name, path: req.url, headers: req.headers }));
  });
  // WebSocket-style upgrade: answer 101, then echo whatever bytes arrive, upper-cased.
  server.on('upgrade', (req, socket) => {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `X-Seen-User: ${req.headers['x-portcullis-user'] ?? '-'}\r\n\r\n`,
    );
    socket.on('data', (d) => socket.write(d.toString().toUpperCase()));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, addr: `127.0.0.1:${server.address().port}` };
}

const policy = ({ name, host, addr, groups = ['Staff'], extra = '' }) => `name = "${name}"
host = "${host}"
upstreams = ["${addr}"]
groups = [${groups.map((g) => JSON.stringify(g)).join(', ')}]
mfa = { max_age = "5m" }
paths = [
  { prefix = "/public", access = "public" },
  { prefix = "/mfa", access = "mfa" },
]
${extra}`;

/** Verifies an identity assertion the way an application would: jose, the published JWKS. */
async function verifyAssertion(server, token, audience) {
  const discovery = JSON.parse((await httpsGet(server.port, '/.well-known/openid-configuration')).body);
  const keys = await httpsGet(server.port, new URL(discovery.jwks_uri).pathname);
  assert.equal(keys.status, 200);
  const jwks = createLocalJWKSet(JSON.parse(keys.body));
  return jwtVerify(token, jwks, { issuer: discovery.issuer, audience, maxTokenAge: '60s' });
}

/** A well-formed assertion signed by someone else's key, as a forger would send it. */
async function forgedAssertion(server) {
  const { privateKey } = await generateKeyPair('ES256');
  return new SignJWT({ email: 'evil@example.com', groups: ['Finance'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'forged' })
    .setIssuer(server.url)
    .setAudience(server.appUrl('one.localhost').replace(/\/$/, ''))
    .setSubject('evil')
    .setIssuedAt()
    .setExpirationTime('50s')
    .sign(privateKey);
}

/** The JSON an upstream echoed, read from the page's body text. */
async function echoed(page) {
  const text = await page.locator('body').innerText();
  return JSON.parse(text);
}

describe('gateway', { timeout: TEST_TIMEOUT }, () => {
  let browser;
  let server;
  const upstreams = [];

  before(async () => {
    const one = await echoUpstream('one');
    const two = await echoUpstream('two');
    const three = await echoUpstream('three');
    upstreams.push(one, two, three);
    server = await Server.start('gateway', {
      policies: {
        one: policy({ name: 'App One', host: 'one.localhost', addr: one.addr }),
        two: policy({ name: 'App Two', host: 'two.localhost', addr: two.addr }),
        finance: policy({ name: 'Finance', host: 'finance.localhost', addr: three.addr, groups: ['Finance'] }),
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    for (const u of upstreams) u.server.close();
  });

  async function signIn(page) {
    await page.getByLabel('Email').fill(DEMO.email);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByLabel('Password').fill(DEMO.password);
    await page.getByRole('button', { name: 'Login' }).click();
  }

  test('sign-in on the way in, a second host by handshake, spoofed headers stripped, group denial, step-up', async () => {
    const context = await newContext(browser);
    const forged = await forgedAssertion(server);
    // Every request the browser makes carries forged identity headers in odd cases.
    await context.setExtraHTTPHeaders({
      'X-Portcullis-User': 'evil',
      'x-PORTCULLIS-groups': 'Finance',
      'x-portcullis-assertion': forged,
    });
    const page = await context.newPage();
    try {
      await page.goto(server.appUrl('one.localhost', '/hello?x=1'));
      assert.equal(new URL(page.url()).host, `portal.localhost:${server.port}`, 'sent to the portal');
      assert.equal(new URL(page.url()).pathname, '/login');
      await screenshot(page, 'gateway-01-login');
      await signIn(page);
      await page.waitForURL((u) => u.host === `one.localhost:${server.port}`);
      const one = await echoed(page);
      assert.equal(one.upstream, 'one');
      assert.equal(one.path, '/hello?x=1', 'back at the original URL');
      assert.equal(one.headers['x-portcullis-email'], DEMO.email);
      assert.equal(one.headers['x-portcullis-groups'], 'Staff', 'forged groups replaced');
      assert.notEqual(one.headers['x-portcullis-user'], 'evil', 'forged user replaced');
      assert.match(one.headers['x-portcullis-user'], /^[0-9a-f-]{36}$/);
      assert.ok(!String(one.headers.cookie ?? '').includes('portcullis'), 'our cookies never reach the upstream');
      const cookies = await context.cookies(server.appUrl('one.localhost'));
      const app = cookies.find((c) => c.name === '__Host-portcullis_app');
      assert.ok(app && app.httpOnly && app.secure && app.domain === 'one.localhost', 'host-only app cookie');

      // The signed assertion: ours (not the forged one), verifiable against the JWKS.
      const oneOrigin = server.appUrl('one.localhost').replace(/\/$/, '');
      const assertion = one.headers['x-portcullis-assertion'];
      assert.ok(assertion && assertion !== forged, 'the forged assertion was replaced');
      const { payload, protectedHeader } = await verifyAssertion(server, assertion, oneOrigin);
      assert.equal(payload.sub, one.headers['x-portcullis-user']);
      assert.equal(payload.email, DEMO.email);
      assert.deepEqual(payload.groups, ['Staff']);
      assert.ok(payload.amr.includes('pwd'), `amr ${payload.amr}`);
      assert.equal(typeof payload.auth_time, 'number');
      assert.ok(payload.exp - payload.iat < 60, 'lives under a minute');
      assert.ok(protectedHeader.kid, 'names its key');
      await assert.rejects(verifyAssertion(server, forged, oneOrigin), 'a forged assertion does not verify');
      const [h, p, sig] = assertion.split('.');
      const tampered = JSON.parse(Buffer.from(p, 'base64url'));
      tampered.groups = ['Finance'];
      await assert.rejects(
        verifyAssertion(server, `${h}.${Buffer.from(JSON.stringify(tampered)).toString('base64url')}.${sig}`, oneOrigin),
        'a tampered assertion does not verify',
      );
      await assert.rejects(
        verifyAssertion(server, assertion, server.appUrl('two.localhost').replace(/\/$/, '')),
        'an assertion is for one application only',
      );
      // Cached per session and application: the next request carries the same one.
      await page.reload();
      assert.equal((await echoed(page)).headers['x-portcullis-assertion'], assertion, 'reused while fresh');

      // A second application host: no login page, just the handshake with the portal.
      await page.goto(server.appUrl('two.localhost', '/start'));
      await page.waitForURL((u) => u.host === `two.localhost:${server.port}`);
      const two = await echoed(page);
      assert.equal(two.upstream, 'two');
      assert.equal(two.path, '/start');
      assert.equal(two.headers['x-portcullis-email'], DEMO.email);
      const twoAssertion = two.headers['x-portcullis-assertion'];
      assert.notEqual(twoAssertion, assertion, 'each application its own assertion');
      assert.equal(decodeJwt(twoAssertion).aud, server.appUrl('two.localhost').replace(/\/$/, ''));

      // A genuine assertion for app two, replayed to app one by a client, is replaced too.
      const replay = await httpsGet(server.port, '/replayed', {
        host: 'one.localhost',
        headers: {
          cookie: `__Host-portcullis_app=${app.value}`,
          accept: 'application/json',
          'X-Portcullis-Assertion': twoAssertion,
        },
      });
      assert.equal(replay.status, 200, replay.body);
      const replayed = JSON.parse(replay.body).headers['x-portcullis-assertion'];
      assert.notEqual(replayed, twoAssertion);
      assert.equal((await verifyAssertion(server, replayed, oneOrigin)).payload.email, DEMO.email);

      // Not in the Finance group: a 403 page naming the application.
      // (The first visit runs the handshake; the page it ends on is the 403.)
      await page.goto(server.appUrl('finance.localhost', '/'));
      await page.getByText('You do not have access to Finance').waitFor();
      const denied = await page.goto(server.appUrl('finance.localhost', '/books'));
      assert.equal(denied.status(), 403);
      assert.ok(!(await page.content()).includes('"upstream"'), 'no upstream content');
      await screenshot(page, 'gateway-02-denied');

      // No second factor yet: the MFA path sends the browser to the portal's step-up page.
      await page.goto(server.appUrl('one.localhost', '/mfa/report'));
      const stepUp = new URL(page.url());
      assert.equal(stepUp.host, `portal.localhost:${server.port}`);
      assert.equal(stepUp.pathname, '/login/step-up');
      assert.equal(stepUp.searchParams.get('app'), 'one');
      assert.match(stepUp.searchParams.get('return_to'), /^\/gateway\/authorize\?app=one&/);

      // Signing out of the portal ends access on the application host (cache TTL 1s).
      await page.goto(`${server.url}/apps`);
      await page.getByRole('button', { name: 'Account menu' }).click();
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.waitForURL((u) => u.pathname === '/login');
      await new Promise((r) => setTimeout(r, 1_500));
      await page.goto(server.appUrl('one.localhost', '/again'));
      assert.equal(new URL(page.url()).pathname, '/login', 'signed out everywhere');
    } catch (error) {
      const text = await page.locator('body').innerText({ timeout: 2_000 }).catch(() => '');
      await screenshot(page, 'gateway-FAILED').catch(() => {});
      error.message += `\n  at ${page.url()} showing "${text.replace(/\s+/g, ' ').slice(0, 300)}"` +
        `\n  server log tail:\n${server.logTail()}`;
      throw error;
    } finally {
      await context.close();
    }
  });

  test('API clients get JSON status codes; public paths never see forged identity', async () => {
    const ready = await httpsGet(server.port, '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body, 'ready');

    const res = await httpsGet(server.port, '/data', {
      host: 'one.localhost',
      headers: { accept: 'application/json' },
    });
    assert.equal(res.status, 401);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(JSON.parse(res.body).error, 'unauthenticated');

    const nav = await httpsGet(server.port, '/data', { host: 'one.localhost' });
    assert.equal(nav.status, 302);
    const to = new URL(nav.headers.location);
    assert.equal(to.pathname, '/gateway/authorize');
    assert.equal(to.searchParams.get('app'), 'one');

    const pub = await httpsGet(server.port, '/public/x', {
      host: 'one.localhost',
      headers: { 'X-Portcullis-User': 'evil', 'x-portcullis-email': 'evil@example.com', 'X-PORTCULLIS-ASSERTION': 'x' },
    });
    assert.equal(pub.status, 200);
    const seen = JSON.parse(pub.body).headers;
    for (const name of Object.keys(seen)) assert.ok(!name.startsWith('x-portcullis-'), `${name} reached the upstream`);

    // Upgrades pass through (public path here; the session check is the same code path).
    const echoedBack = await new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1',
        port: server.port,
        path: '/public/ws',
        servername: 'one.localhost',
        rejectUnauthorized: false,
        headers: {
          host: `one.localhost:${server.port}`,
          connection: 'Upgrade',
          upgrade: 'websocket',
          'x-portcullis-user': 'evil',
        },
        timeout: 5_000,
      });
      req.on('upgrade', (res, socket) => {
        assert.equal(res.statusCode, 101);
        assert.equal(res.headers['x-seen-user'], '-', 'forged header stripped on upgrades too');
        socket.once('data', (d) => {
          resolve(d.toString());
          socket.destroy();
        });
        socket.write('hello over the upgraded connection');
      });
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on('timeout', () => req.destroy(new Error('upgrade timed out')));
      req.on('error', reject);
      req.end();
    });
    assert.equal(echoedBack, 'HELLO OVER THE UPGRADED CONNECTION');

    // A forged callback without the browser's state cookie is refused.
    const forged = await httpsGet(server.port, '/.portcullis/callback?code=abc&state=def&return_to=/', {
      host: 'one.localhost',
    });
    assert.equal(forged.status, 400);
  });
});
