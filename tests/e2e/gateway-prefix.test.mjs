// End-to-end tests of routing by host, then by path prefix (issue 5): three policies on
// one host (`apps.localhost`) with prefixes `/a`, `/b` and `/fin`, each with its own
// upstream started here. The real binary, headless Chromium for the sign-in and the
// handshakes, plain HTTPS clients for the refusals. Covered: each prefix reaches its own
// upstream with the identity headers after its own handshake and with its own cookie;
// a path no prefix matches gets the 404 page (JSON 404 for API clients); group denial
// on one application while the other works; one application's cookie value refused by
// the other; the assertion's audience is origin + prefix (verified with npm `jose`
// against the JWKS); Portcullis' cookies never reach an upstream; the callback picks
// the application by `app`; the portal tile launches origin + prefix; dot segments
// refused; metrics per
// application and a SIGHUP reload adding a prefix to the shared host.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { DEMO, Server, freePort, httpsGet, launchBrowser, newContext, screenshot } from './harness.mjs';

const TEST_TIMEOUT = 300_000;
const HOST = 'apps.localhost';

/** An upstream that answers every request with its name, the path and the headers it received. */
async function echoUpstream(name) {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ upstream: name, path: req.url, headers: req.headers }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, addr: `127.0.0.1:${server.address().port}` };
}

const policy = ({ name, prefix, addr, groups }) => `name = "${name}"
host = "${HOST}"
path_prefix = "${prefix}"
upstreams = ["${addr}"]
${groups.length ? `groups = [${groups.map((g) => JSON.stringify(g)).join(', ')}]` : 'everyone = true'}
paths = [{ prefix = "${prefix}/public", access = "public" }]
`;

async function verifyAssertion(server, token, audience) {
  const discovery = JSON.parse((await httpsGet(server.port, '/.well-known/openid-configuration')).body);
  const keys = await httpsGet(server.port, new URL(discovery.jwks_uri).pathname);
  assert.equal(keys.status, 200);
  const jwks = createLocalJWKSet(JSON.parse(keys.body));
  return jwtVerify(token, jwks, { issuer: discovery.issuer, audience, maxTokenAge: '60s' });
}

async function echoed(page) {
  return JSON.parse(await page.locator('body').innerText());
}

/** The URLs of the navigations `page` makes while `step` runs. */
async function navigations(page, step) {
  const seen = [];
  const record = (r) => r.isNavigationRequest() && seen.push(new URL(r.url()));
  page.on('request', record);
  try {
    await step();
  } finally {
    page.off('request', record);
  }
  return seen;
}


/** The gateway's own page has the portal's look (its inline style passed the
 * CSP by hash) and a link back to the portal's applications. */
async function assertPortalLook(page, server) {
  const radius = await page.evaluate(() => {
    const card = document.querySelector('.card');
    return card ? getComputedStyle(card).borderTopLeftRadius : null;
  });
  assert.equal(radius, '14px', 'styled like the portal');
  const link = page.getByRole('link', { name: 'Go to your applications' });
  assert.equal(new URL(await link.getAttribute('href')).host, `portal.localhost:${server.port}`);
}

describe('gateway: several applications on one host, by path prefix', { timeout: TEST_TIMEOUT }, () => {
  let browser;
  let server;
  const upstreams = [];

  before(async () => {
    const a = await echoUpstream('A');
    const b = await echoUpstream('B');
    const fin = await echoUpstream('FIN');
    upstreams.push(a, b, fin);
    server = await Server.start('gateway-prefix', {
      policies: {
        a: policy({ name: 'App A', prefix: '/a', addr: a.addr, groups: ['Staff'] }),
        b: policy({ name: 'App B', prefix: '/b', addr: b.addr, groups: ['Staff'] }),
        fin: policy({ name: 'Finance', prefix: '/fin', addr: fin.addr, groups: ['Finance'] }),
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    for (const u of upstreams) u.server.close();
  });

  const base = () => server.appUrl(HOST).replace(/\/$/, '');
  const get = (path, headers = {}) => httpsGet(server.port, path, { host: HOST, headers });

  test('each prefix its own upstream, handshake, cookie and audience; 404 elsewhere; refusals', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      // A: sign in on the way, back at the original URL on upstream A.
      await page.goto(server.appUrl(HOST, '/a/x?q=1'));
      assert.equal(new URL(page.url()).pathname, '/login', 'sent to the portal sign-in');
      await page.getByLabel('Email').fill(DEMO.email);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Password').fill(DEMO.password);
      await page.getByRole('button', { name: 'Login' }).click();
      await page.waitForURL((u) => u.host === `${HOST}:${server.port}` && u.pathname === '/a/x');
      const a = await echoed(page);
      assert.equal(a.upstream, 'A');
      assert.equal(a.path, '/a/x?q=1', 'path forwarded unchanged, prefix kept');
      assert.equal(a.headers['x-portcullis-email'], DEMO.email);
      assert.equal(a.headers['x-portcullis-groups'], 'Staff');
      assert.ok(!String(a.headers.cookie ?? '').includes('portcullis'), 'no Portcullis cookie reaches A');
      let cookies = await context.cookies(server.appUrl(HOST));
      const cookieA = cookies.find((c) => c.name === '__Host-portcullis_app_a');
      assert.ok(cookieA && cookieA.httpOnly && cookieA.secure && cookieA.path === '/', 'A has its own cookie');
      assert.ok(!cookies.some((c) => c.name === '__Host-portcullis_app'), 'not the whole-host name');

      // The assertion A received is for A only: aud = origin + /a.
      const assertionA = a.headers['x-portcullis-assertion'];
      assert.equal(decodeJwt(assertionA).aud, `${base()}/a`);
      assert.equal((await verifyAssertion(server, assertionA, `${base()}/a`)).payload.email, DEMO.email);
      await assert.rejects(verifyAssertion(server, assertionA, `${base()}/b`), 'not valid for B');
      await assert.rejects(verifyAssertion(server, assertionA, base()), 'not valid for the bare origin');

      // B: its own handshake (no sign-in form), its own upstream and cookie; A's cookie kept.
      const toB = await navigations(page, async () => {
        await page.goto(server.appUrl(HOST, '/b/y'));
        await page.waitForURL((u) => u.host === `${HOST}:${server.port}` && u.pathname === '/b/y');
      });
      assert.ok(toB.some((u) => u.pathname === '/gateway/authorize' && u.searchParams.get('app') === 'b'), 'B ran its own handshake');
      assert.ok(toB.some((u) => u.pathname === '/.portcullis/callback' && u.searchParams.get('app') === 'b'), 'the callback names B');
      assert.ok(!toB.some((u) => u.pathname === '/login'), 'no sign-in form again');
      const b = await echoed(page);
      assert.equal(b.upstream, 'B');
      assert.equal(b.path, '/b/y');
      assert.equal(b.headers['x-portcullis-email'], DEMO.email);
      assert.ok(!String(b.headers.cookie ?? '').includes('portcullis'), 'no Portcullis cookie reaches B');
      assert.equal(decodeJwt(b.headers['x-portcullis-assertion']).aud, `${base()}/b`);
      await verifyAssertion(server, b.headers['x-portcullis-assertion'], `${base()}/b`);
      cookies = await context.cookies(server.appUrl(HOST));
      const cookieB = cookies.find((c) => c.name === '__Host-portcullis_app_b');
      assert.ok(cookieB && cookieB.path === '/', 'B has its own cookie');
      assert.equal(cookies.find((c) => c.name === '__Host-portcullis_app_a')?.value, cookieA.value, "A's cookie untouched");
      assert.notEqual(cookieB.value, cookieA.value);

      // Back to A: no new handshake, still upstream A.
      let again;
      const toA = await navigations(page, async () => {
        again = await page.goto(server.appUrl(HOST, '/a/again'));
      });
      assert.equal(again.status(), 200);
      assert.deepEqual(toA.map((u) => u.pathname), ['/a/again'], 'A\'s cookie still admits: no handshake');
      assert.equal((await echoed(page)).upstream, 'A');

      // Finance on the same host: not in its group, its 403 page; A still works.
      await page.goto(server.appUrl(HOST, '/fin/books'));
      await page.getByText('You do not have access to Finance').waitFor();
      const denied = await page.goto(server.appUrl(HOST, '/fin/books'));
      assert.equal(denied.status(), 403);
      assert.ok(!(await page.content()).includes('"upstream"'), 'no upstream content');
      await assertPortalLook(page, server);
      await screenshot(page, 'gateway-prefix-01-denied');
      // A path the gateway will not decide on: the same look, and a way back.
      const badPath = await page.goto(server.appUrl(HOST, '/a/x%2fy'));
      assert.equal(badPath.status(), 400);
      await page.getByText('This address is not valid').waitFor();
      await assertPortalLook(page, server);
      await page.goto(server.appUrl(HOST, '/a/after-denial'));
      assert.equal((await echoed(page)).upstream, 'A', 'A unaffected by the denial on /fin');

      // No application at /c, at / or at /ab (segment boundary): the 404 page, never an upstream.
      for (const path of ['/c', '/', '/ab', '/bb/x']) {
        const res = await page.goto(server.appUrl(HOST, path));
        assert.equal(res.status(), 404, path);
        await page.getByText('No application at this address').waitFor();
        await assertPortalLook(page, server);
      }
      await screenshot(page, 'gateway-prefix-02-no-app');

      // The tile on the portal launches origin + prefix.
      await page.goto(`${server.url}/apps`);
      await page.getByRole('link', { name: 'App B' }).click();
      await page.waitForURL((u) => u.host === `${HOST}:${server.port}`);
      assert.equal(new URL(page.url()).pathname, '/b');
      assert.equal((await echoed(page)).upstream, 'B');

      // Plain clients with the browser's cookies.
      const jar = `__Host-portcullis_app_a=${cookieA.value}; __Host-portcullis_app_b=${cookieB.value}; theirs=1`;
      const json = { accept: 'application/json' };

      // Both cookies sent to B: only B's counts, and none reaches the upstream.
      const both = await get('/b/z', { ...json, cookie: jar });
      assert.equal(both.status, 200, both.body);
      const seen = JSON.parse(both.body);
      assert.equal(seen.upstream, 'B');
      assert.equal(seen.headers.cookie, 'theirs=1', 'only the application\'s own cookies pass');

      // A's cookie value under B's name: refused (401 JSON; a navigation goes to the handshake for B).
      const swapped = `__Host-portcullis_app_b=${cookieA.value}`;
      const refused = await get('/b/z', { ...json, cookie: swapped });
      assert.equal(refused.status, 401, refused.body);
      assert.equal(JSON.parse(refused.body).error, 'unauthenticated');
      const nav = await get('/b/z', { cookie: swapped });
      assert.equal(nav.status, 302);
      const to = new URL(nav.headers.location);
      assert.equal(to.pathname, '/gateway/authorize');
      assert.equal(to.searchParams.get('app'), 'b');
      assert.equal(to.searchParams.get('return_to'), `${base()}/b/z`);
      assert.match(String(nav.headers['set-cookie']), /^__Host-portcullis_state_b=/, 'B\'s own state cookie');
      // And the whole-host name is nobody's cookie here.
      const hostName = await get('/a/z', { ...json, cookie: `__Host-portcullis_app=${cookieA.value}` });
      assert.equal(hostName.status, 401);

      // 404 for API clients, even signed in; never the portal.
      const missing = await get('/c/data', { ...json, cookie: jar });
      assert.equal(missing.status, 404);
      assert.equal(missing.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(missing.body), { error: 'not_found' });
      const portalPath = await get('/login');
      assert.equal(portalPath.status, 404, 'portal paths are not served on an application host');

      // Dot segments (which browsers resolve before sending) are refused, not routed by
      // one prefix and resolved by the upstream into another's path.
      for (const p of ['/a/../b/x', '/a/%2e%2e/b/x', '/a/./x', '/a/public/../../b/x']) {
        const res = await get(p, { cookie: jar });
        assert.equal(res.status, 400, p);
        assert.match(res.body, /This address is not valid/);
        const api = await get(p, { ...json, cookie: jar });
        assert.equal(api.status, 400, p);
        assert.deepEqual(JSON.parse(api.body), { error: 'invalid_request' });
      }

      // Public rule inside A's prefix needs no session; spoofed identity never reaches A.
      const pub = await get('/a/public/x', { 'x-portcullis-user': 'evil' });
      assert.equal(pub.status, 200);
      assert.equal(JSON.parse(pub.body).upstream, 'A');
      assert.equal(JSON.parse(pub.body).headers['x-portcullis-user'], undefined);

      // The callback is the host's: it needs `app` naming an application on this host.
      for (const q of ['code=x&state=y', 'app=nope&code=x&state=y', 'app=wiki&code=x&state=y']) {
        const res = await get(`/.portcullis/callback?${q}`);
        assert.equal(res.status, 400, q);
        assert.match(res.body, /Sign-in could not be completed/);
      }
      const forgedA = await get('/.portcullis/callback?app=a&code=x&state=y');
      assert.equal(forgedA.status, 400, 'a known app, but no state cookie');
      assert.match(forgedA.body, /The sign-in for App A expired/);
    } catch (error) {
      const text = await page.locator('body').innerText({ timeout: 2_000 }).catch(() => '');
      await screenshot(page, 'gateway-prefix-FAILED').catch(() => {});
      error.message += `\n  at ${page.url()} showing "${text.replace(/\s+/g, ' ').slice(0, 300)}"` +
        `\n  server log tail:\n${server.logTail()}`;
      throw error;
    } finally {
      await context.close();
    }
  });

  test('metrics count each application on the shared host; SIGHUP swaps in a new prefix', async () => {
    const d = await echoUpstream('D');
    upstreams.push(d);
    const metricsPort = await freePort();
    const s = await Server.start('gateway-prefix-reload', {
      policies: { web: policy({ name: 'App A', prefix: '/a', addr: upstreams[0].addr, groups: [] }) },
      gatewayToml: `metrics_listen = "127.0.0.1:${metricsPort}"`,
    });
    try {
      const on = (p) => httpsGet(s.port, p, { host: HOST });
      const a = await on('/a/public/x');
      assert.equal(a.status, 200);
      assert.equal(JSON.parse(a.body).upstream, 'A');
      assert.equal((await on('/d/public/x')).status, 404, 'no application at /d yet');

      // `docs` sorts before `web`: web's counts must not move onto it.
      await writeFile(path.join(s.dir, 'policies', 'docs.toml'), policy({ name: 'App D', prefix: '/d', addr: d.addr, groups: [] }));
      s.child.kill('SIGHUP');
      let reached = null;
      for (let i = 0; i < 50 && !reached; i++) {
        const res = await on('/d/public/x');
        if (res.status === 200) reached = JSON.parse(res.body);
        else await sleep(200);
      }
      assert.equal(reached?.upstream, 'D', `the reload added /d\n${s.logTail()}`);
      assert.equal(JSON.parse((await on('/a/public/y')).body).upstream, 'A', 'A kept');
      assert.equal((await on('/c')).status, 404);

      // A bad reload (same host and prefix twice) keeps the running table.
      await writeFile(path.join(s.dir, 'policies', 'e.toml'), policy({ name: 'E', prefix: '/d/', addr: d.addr, groups: [] }));
      s.child.kill('SIGHUP');
      for (let i = 0; i < 50 && !s.log.includes('reload refused'); i++) await sleep(100);
      const refused = s.log.split('\n').find((l) => l.includes('reload refused')) ?? '';
      assert.ok(refused.includes('e.toml') && refused.includes('docs.toml') && refused.includes('path_prefix'), refused);
      assert.equal(JSON.parse((await on('/d/public/z')).body).upstream, 'D', 'the running table stays');

      const metrics = await new Promise((resolve, reject) => {
        http.get(`http://127.0.0.1:${metricsPort}/metrics`, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve(body));
        }).on('error', reject);
      });
      const count = (app, outcome) =>
        Number(metrics.match(new RegExp(`portcullis_requests_total\\{app="${app}",outcome="${outcome}"\\} (\\d+)`))?.[1] ?? 0);
      assert.equal(count('web', 'public'), 2, `exactly the two requests to /a\n${metrics}`);
      assert.ok(count('portal', 'no_app') >= 2, 'a 404 on an application host is counted, under no application');
    } finally {
      await s.stop();
    }
  });

  test('a second policy with the same host and prefix stops start-up naming both files', async () => {
    await assert.rejects(
      Server.start('gateway-prefix-dup', {
        policies: {
          one: `host = "${HOST}"\npath_prefix = "/a"\nupstreams = ["127.0.0.1:1"]\neveryone = true\n`,
          two: `host = "${HOST}"\npath_prefix = "/a/"\nupstreams = ["127.0.0.1:2"]\neveryone = true\n`,
        },
      }),
      (error) => /one\.toml/.test(error.message) && /two\.toml/.test(error.message) && /path_prefix/.test(error.message),
    );
  });
});
