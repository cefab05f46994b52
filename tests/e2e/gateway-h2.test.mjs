// HTTP/2 to clients: the listener offers h2 and http/1.1 by ALPN, for the portal host and
// for proxied applications alike. Headless Chromium signs in and reaches an application
// over h2 (its navigation timing names the protocol); node's own http2 client then uses the
// application cookie on one h2 connection for several concurrent requests, with forged
// identity headers that must not reach the upstream, and without the cookie gets the
// JSON 401. The upstream is plain HTTP/1.1, as most internal applications are.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { once } from 'node:events';
import { DEMO, Server, launchBrowser, newContext, screenshot } from './harness.mjs';

const HOST = 'h2app.localhost';

/** An HTTP/1.1 upstream answering with what it received, as JSON. */
async function echoUpstream() {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, httpVersion: req.httpVersion, headers: req.headers }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, addr: `127.0.0.1:${server.address().port}` };
}

/** One h2 request on `session`; resolves to { status, headers, body }. */
function h2Request(session, headers) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    let body = '';
    let head = {};
    req.setEncoding('utf8');
    req.on('response', (h) => {
      head = h;
    });
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => resolve({ status: head[':status'], headers: head, body }));
    req.on('error', reject);
    req.end();
  });
}

/** The protocol the page's navigation used, as the browser reports it ("h2", "http/1.1"). */
function protocolOf(page) {
  return page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
}

describe('gateway over HTTP/2', { timeout: 180_000 }, () => {
  let server;
  let upstream;
  let browser;

  before(async () => {
    upstream = await echoUpstream();
    server = await Server.start('gateway-h2', {
      policies: {
        h2app: `name = "H2 App"\nhost = "${HOST}"\nupstreams = ["${upstream.addr}"]\neveryone = true\n`,
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    upstream?.server.close();
  });

  test('a browser signs in and uses the application over h2; an h2 client with the cookie is proxied, one without gets 401', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    let cookie;
    try {
      await page.goto(server.appUrl(HOST, '/over-h2'));
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.equal(await protocolOf(page), 'h2', 'the portal host speaks h2');
      await page.getByLabel('Email').fill(DEMO.email);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Password').fill(DEMO.password);
      await page.getByRole('button', { name: 'Login' }).click();
      await page.waitForURL((u) => u.host === `${HOST}:${server.port}`);
      const seen = JSON.parse(await page.locator('body').innerText());
      assert.equal(seen.path, '/over-h2', 'back at the original URL');
      assert.equal(seen.headers['x-portcullis-email'], DEMO.email);
      assert.equal(seen.httpVersion, '1.1', 'the upstream is spoken to in HTTP/1.1');
      assert.equal(await protocolOf(page), 'h2', 'the application host speaks h2');
      await screenshot(page, 'gateway-h2-01-app');
      cookie = (await context.cookies(server.appUrl(HOST))).find((c) => c.name === '__Host-portcullis_app');
      assert.ok(cookie, 'application cookie set');
    } finally {
      await context.close();
    }

    const session = http2.connect(`https://127.0.0.1:${server.port}`, {
      servername: HOST,
      rejectUnauthorized: false,
    });
    try {
      await once(session, 'connect');
      assert.equal(session.alpnProtocol, 'h2');
      const authority = `${HOST}:${server.port}`;
      // Several streams at once on the one connection, each with forged identity headers.
      const paths = ['/a', '/b', '/c', '/d'];
      const answers = await Promise.all(
        paths.map((p) =>
          h2Request(session, {
            ':method': 'GET',
            ':path': p,
            ':authority': authority,
            accept: 'application/json',
            cookie: `__Host-portcullis_app=${cookie.value}; theirs=1`,
            'x-portcullis-user': 'evil',
            'x-portcullis-groups': 'Admins',
          }),
        ),
      );
      for (const [i, a] of answers.entries()) {
        assert.equal(a.status, 200, a.body);
        const seen = JSON.parse(a.body);
        assert.equal(seen.path, paths[i]);
        assert.equal(seen.headers['x-portcullis-email'], DEMO.email);
        assert.notEqual(seen.headers['x-portcullis-user'], 'evil', 'forged user replaced');
        assert.notEqual(seen.headers['x-portcullis-groups'], 'Admins', 'forged groups replaced');
        assert.equal(seen.headers.cookie, 'theirs=1', 'only the application\'s own cookies reach it');
      }

      const anonymous = await h2Request(session, {
        ':method': 'GET',
        ':path': '/a',
        ':authority': authority,
        accept: 'application/json',
      });
      assert.equal(anonymous.status, 401);
      assert.equal(JSON.parse(anonymous.body).error, 'unauthenticated');

      const portal = await h2Request(session, {
        ':method': 'GET',
        ':path': '/healthz',
        ':authority': `portal.localhost:${server.port}`,
      });
      assert.equal(portal.status, 200, 'the portal answers on the same h2 listener');
    } finally {
      session.close();
    }
  });
});
