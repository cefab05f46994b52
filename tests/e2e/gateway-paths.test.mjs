// End-to-end tests of the one path rule and the headers the gateway owns (issue 14,
// defects 1 and 2), against a real nginx upstream with `location` blocks as an
// application would have them. nginx decodes and normalises a path before it picks a
// location (`//mfa/x`, `/%6dfa/x` are `/mfa/x` to it), so each spelling of a path
// whose policy rule needs a second factor must meet that rule at the gateway, or be
// refused; none may reach nginx's `/mfa/` location with a password-only session, over
// HTTP/1.1 or HTTP/2. Anonymous clients must not reach a protected location through a
// `public` exemption, nor one application's prefix through another's on a shared host.
// nginx runs with `underscores_in_headers on`, so `X_Portcullis_User` would be read as
// the identity header: every spelling of the headers the gateway owns is replaced.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { DEMO, Server, httpsGet, launchBrowser, newContext, screenshot, startNginx } from './harness.mjs';

const HOST = 'paths.localhost';
const SHARED = 'shared.localhost';

// Each location names itself and echoes what it was given.
const NGINX = `
    server {
        listen 127.0.0.1:PORT;
        underscores_in_headers on;
        default_type text/plain;
        location /mfa/ { return 200 "area=mfa uri=$uri\\n"; }
        location /admin/ { return 200 "area=admin uri=$uri\\n"; }
        location /public/ { return 200 "area=public uri=$uri\\n"; }
        location /a/ { return 200 "area=a uri=$uri\\n"; }
        location /b/ { return 200 "area=b uri=$uri\\n"; }
        location / {
            return 200 "area=root uri=$uri request=$request_uri user=[$http_x_portcullis_user] groups=[$http_x_portcullis_groups] xfh=[$http_x_forwarded_host] xff=[$http_x_forwarded_for] real=[$http_x_real_ip] orig=[$http_x_original_url] rewrite=[$http_x_rewrite_url] fwd=[$http_forwarded] prefix=[$http_x_forwarded_prefix]\\n";
        }
    }`;

const field = (body, name) => body.match(new RegExp(`${name}=\\[([^\\]]*)\\]`))?.[1];

function h2Request(session, headers) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    let body = '';
    let head = {};
    req.setEncoding('utf8');
    req.on('response', (h) => (head = h));
    req.on('data', (d) => (body += d));
    req.on('end', () => resolve({ status: head[':status'], body }));
    req.on('error', reject);
    req.end();
  });
}

describe('gateway: one path rule and owned headers, against nginx', { timeout: 240_000 }, () => {
  let browser;
  let server;
  let nginx;
  let cookie;

  before(async () => {
    nginx = await startNginx('paths', NGINX);
    server = await Server.start('gateway-paths', {
      policies: {
        paths: `name = "Paths"
host = "${HOST}"
upstreams = ["${nginx.addr}"]
groups = ["Staff"]
mfa = { max_age = "5m" }
paths = [
  { prefix = "/mfa", access = "mfa" },
  { prefix = "/admin", access = "mfa" },
  { prefix = "/public", access = "public" },
]
`,
        a: `name = "A"
host = "${SHARED}"
path_prefix = "/a"
upstreams = ["${nginx.addr}"]
groups = ["Staff"]
paths = [{ prefix = "/a/public", access = "public" }]
`,
        b: `name = "B"
host = "${SHARED}"
path_prefix = "/b"
upstreams = ["${nginx.addr}"]
groups = ["Staff"]
`,
      },
    });
    browser = await launchBrowser();
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await page.goto(server.appUrl(HOST, '/'));
      await page.getByLabel('Email').fill(DEMO.email);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Password').fill(DEMO.password);
      await page.getByRole('button', { name: 'Login' }).click();
      await page.waitForURL((u) => u.host === `${HOST}:${server.port}`);
      assert.match(await page.locator('body').innerText(), /area=root/);
      cookie = (await context.cookies(server.appUrl(HOST))).find((c) => c.name === '__Host-portcullis_app');
      assert.ok(cookie, 'a password-only session on the application host');
    } catch (error) {
      await screenshot(page, 'gateway-paths-FAILED').catch(() => {});
      error.message += `\n  server log tail:\n${server.logTail()}`;
      throw error;
    } finally {
      await context.close();
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await nginx?.stop();
  });

  const json = { accept: 'application/json' };
  const get = (p, headers = {}, host = HOST) => httpsGet(server.port, p, { host, headers });
  const signedIn = (p, headers = {}) => get(p, { ...json, cookie: `__Host-portcullis_app=${cookie.value}`, ...headers });

  test('nginx itself routes the spellings to its /mfa/ location (the premise)', async () => {
    for (const p of ['//mfa/x', '/%6dfa/x', '/mfa%2fx', '/mfa/x']) {
      const res = await httpsLessGet(nginx.port, p);
      assert.match(res, /area=mfa/, p);
    }
  });

  test('a password-only session meets the second-factor rule in every spelling, or is refused', async () => {
    // The plain path: the rule applies.
    const plain = await signedIn('/mfa/x');
    assert.equal(plain.status, 403, plain.body);
    assert.deepEqual(JSON.parse(plain.body), { error: 'mfa_required' });
    // Spellings nginx reads as /mfa/x: normalised, so the same rule.
    for (const p of ['//mfa/x', '///mfa//x', '/%6dfa/x', '/%6Dfa/x', '/%6d%66%61/x', '/admin//x', '/%61dmin/x']) {
      const res = await signedIn(p);
      assert.equal(res.status, 403, `${p}: ${res.body}`);
      assert.deepEqual(JSON.parse(res.body), { error: 'mfa_required' }, p);
    }
    // Spellings that cannot be normalised safely: refused before any rule.
    for (const p of ['/mfa%2fx', '/mfa%2Fx', '/public/..%2fmfa/x', '/public/%2e%2e%2fmfa/x', '/public/..;/mfa/x',
      '/public/../mfa/x', '/public/%2e%2e/mfa/x', '/mfa;x/y', '/mfa%5cx', '/mfa%00/x', '/mfa/%zz', '/%c0%afmfa/x']) {
      const res = await signedIn(p);
      assert.equal(res.status, 400, `${p}: ${res.body}`);
      assert.deepEqual(JSON.parse(res.body), { error: 'invalid_request' }, p);
      assert.doesNotMatch(res.body, /area=/, p);
    }
    // A navigation gets the page, not JSON.
    const page = await get('/mfa%2fx', { cookie: `__Host-portcullis_app=${cookie.value}` });
    assert.equal(page.status, 400);
    assert.match(page.body, /This address is not valid/);
    // The upstream gets exactly the path the rule was decided on.
    const root = await signedIn('//x/%7euser//y?q=%2F..');
    assert.equal(root.status, 200, root.body);
    assert.match(root.body, /area=root uri=\/x\/~user\/y request=\/x\/~user\/y\?q=%2F\.\. /);
    // nginx is case-sensitive, as the policy's default says: /MFA is not its /mfa/.
    const upper = await signedIn('/MFA/x');
    assert.equal(upper.status, 200);
    assert.match(upper.body, /area=root uri=\/MFA\/x/);
  });

  test('anonymous clients reach nothing protected through a public exemption or another prefix', async () => {
    const pub = await get('/public/x');
    assert.equal(pub.status, 200);
    assert.match(pub.body, /area=public uri=\/public\/x/);
    for (const p of ['/public/..%2fadmin/', '/public/%2e%2e%2fadmin/', '/public/..;/admin/', '/public/..\\admin/',
      '/public/%2e%2e/admin/', '/public/..%5cadmin/', '/public/.%2e/admin/']) {
      const res = await get(p, json);
      assert.ok(res.status === 400, `${p}: ${res.status} ${res.body}`);
      assert.doesNotMatch(res.body, /area=admin/, p);
    }
    const anonymous = await get('/admin/', json);
    assert.equal(anonymous.status, 401);
    // On the shared host: A's public rule is A's; B stays B's.
    const aPub = await get('/a/public/x', json, SHARED);
    assert.equal(aPub.status, 200);
    assert.match(aPub.body, /area=a/);
    for (const p of ['/a/public/..%2f..%2fb/x', '/a/public/%2e%2e%2f%2e%2e%2fb/x', '/a/public/..;/..;/b/x', '/a/..\\b/x', '//a/public/../../b/x']) {
      const res = await get(p, json, SHARED);
      assert.equal(res.status, 400, `${p}: ${res.body}`);
      assert.doesNotMatch(res.body, /area=b/, p);
    }
    // A spelled prefix still routes to its own application and its rules.
    const b = await get('//%62/x', json, SHARED);
    assert.equal(b.status, 401, 'B, which needs a session');
  });

  test('every spelling of the headers the gateway owns is replaced or dropped', async () => {
    const res = await signedIn('/who', {
      X_Portcullis_User: 'evil',
      'X-Portcullis_Groups': 'Admins',
      x_portcullis_email: 'evil@example.com',
      'X-Forwarded-Host': 'evil.example',
      X_Forwarded_For: '203.0.113.9',
      'X-Real-IP': '203.0.113.9',
      Forwarded: 'for=203.0.113.9;host=evil.example',
      'X-Original-URL': '/admin/',
      'X-Rewrite-URL': '/admin/',
      'X-Forwarded-Prefix': '/admin',
    });
    assert.equal(res.status, 200, res.body);
    const user = field(res.body, 'user');
    assert.ok(user && user !== 'evil' && !user.includes(','), `the gateway's user id: ${res.body}`);
    assert.equal(field(res.body, 'groups'), 'Staff');
    assert.equal(field(res.body, 'xfh'), `${HOST}:${server.port}`);
    assert.equal(field(res.body, 'xff'), '127.0.0.1');
    assert.equal(field(res.body, 'real'), '127.0.0.1');
    for (const dropped of ['orig', 'rewrite', 'fwd', 'prefix']) {
      assert.equal(field(res.body, dropped), '', `${dropped}: ${res.body}`);
    }
    // A forged identity is no session: still sent to sign in.
    const anon = await get('/who', { X_Portcullis_User: 'evil', 'X-Portcullis-User': 'evil' });
    assert.equal(anon.status, 302);
  });

  test('over HTTP/2: the same rule and the same header ownership', async () => {
    const session = http2.connect(`https://127.0.0.1:${server.port}`, { servername: HOST, rejectUnauthorized: false });
    try {
      await once(session, 'connect');
      assert.equal(session.alpnProtocol, 'h2');
      const req = (p, extra = {}) => h2Request(session, {
        ':method': 'GET',
        ':path': p,
        ':authority': `${HOST}:${server.port}`,
        accept: 'application/json',
        cookie: `__Host-portcullis_app=${cookie.value}`,
        ...extra,
      });
      for (const p of ['/mfa/x', '//mfa/x', '/%6dfa/x']) {
        const res = await req(p);
        assert.equal(res.status, 403, `${p}: ${res.body}`);
      }
      for (const p of ['/mfa%2fx', '/public/..%2fmfa/x', '/public/..;/mfa/x']) {
        const res = await req(p);
        assert.equal(res.status, 400, `${p}: ${res.body}`);
      }
      const who = await req('/who', { x_portcullis_user: 'evil', 'x-forwarded-host': 'evil.example' });
      assert.equal(who.status, 200, who.body);
      assert.notEqual(field(who.body, 'user'), 'evil');
      assert.equal(field(who.body, 'xfh'), `${HOST}:${server.port}`);
    } finally {
      session.close();
    }
  });
});

/** A plain HTTP GET straight to nginx, with the path sent as it is. */
async function httpsLessGet(port, p) {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}
