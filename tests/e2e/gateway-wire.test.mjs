// Issue 14, defects 3 and 6, on the wire: raw bytes written over TLS to the real
// binary, in front of an upstream that records exactly what the gateway forwarded.
//   3. Ambiguous Content-Length: identical duplicates (`Content-Length: 5` twice,
//      `Content-Length: 5, 5`) reach the upstream as one clean value; differing values
//      are refused with 400 and never forwarded; Content-Length beside
//      Transfer-Encoding is never forwarded (pingora drops the Content-Length, reads and
//      forwards the body chunked, and ends the connection after the answer).
//   6. Pipelining: requests written together in one write are all answered, in order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server } from './harness.mjs';
import { exchange, headerValues, startRecordingUpstream } from './wire.mjs';

const HOST = 'wire.localhost';

describe('gateway on the wire: request framing and pipelining', { timeout: 180_000 }, () => {
  let upstream;
  let server;

  before(async () => {
    upstream = await startRecordingUpstream();
    server = await Server.start('gateway-wire', {
      policies: {
        wire: `name = "Wire"
host = "${HOST}"
upstreams = ["${upstream.addr}"]
access = "public"
everyone = true
`,
      },
    });
  });

  after(async () => {
    await server?.stop();
    await upstream?.close();
  });

  const post = (path, headerLines, body) =>
    `POST ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${headerLines.map((l) => `${l}\r\n`).join('')}\r\n${body}`;

  /** The request the upstream recorded for `path`, if any. */
  const seen = (path) => upstream.received.filter((r) => r.start?.split(' ')[1] === path);

  for (const [name, lines] of [
    ['two identical Content-Length headers', ['Content-Length: 5', 'Content-Length: 5']],
    ['Content-Length: 5, 5', ['Content-Length: 5, 5']],
    ['Content-Length: 5,5 beside a duplicate', ['Content-Length: 5,5', 'content-length: 5']],
  ]) {
    test(`${name}: the upstream gets one clean Content-Length`, async () => {
      const path = `/cl-same-${encodeURIComponent(name).replaceAll('%', '')}`;
      const state = await exchange(server.port, HOST, post(path, lines, 'hello'));
      assert.equal(state.responses.length, 1, state.raw);
      const res = state.responses[0];
      assert.match(res.start, /^HTTP\/1\.1 200 /, state.raw);
      const got = JSON.parse(res.body);
      assert.deepEqual(headerValues(got, 'content-length'), ['5'], JSON.stringify(got.headers));
      assert.deepEqual(headerValues(got, 'transfer-encoding'), []);
      assert.equal(got.body, 'hello');
      assert.equal(seen(path).length, 1);
    });
  }

  for (const [name, lines] of [
    ['two different Content-Length headers', ['Content-Length: 5', 'Content-Length: 6']],
    ['Content-Length: 5, 6', ['Content-Length: 5, 6']],
    ['Content-Length: 5, x', ['Content-Length: 5, x']],
    ['an empty Content-Length beside a value', ['Content-Length: 5', 'Content-Length: ']],
  ]) {
    test(`${name}: refused with 400, never forwarded`, async () => {
      const path = `/cl-differ-${encodeURIComponent(name).replaceAll('%', '')}`;
      const state = await exchange(server.port, HOST, post(path, lines, 'hello!'));
      assert.ok(state.responses.length >= 1, `an answer, not a silent close: ${JSON.stringify(state.raw)}`);
      assert.match(state.responses[0].start, /^HTTP\/1\.1 400 /, state.raw);
      assert.equal(seen(path).length, 0, 'nothing reached the upstream');
    });
  }

  test('Content-Length beside Transfer-Encoding: chunked: only the chunked framing is forwarded', async () => {
    const path = '/cl-and-te';
    // The Content-Length (3) is a lie; the chunked body is "hello". A proxy trusting the
    // length would leave "lo\r\n0\r\n\r\n" on the upstream connection as a next request.
    const body = '5\r\nhello\r\n0\r\n\r\n';
    const state = await exchange(
      server.port,
      HOST,
      post(path, ['Content-Length: 3', 'Transfer-Encoding: chunked'], body),
    );
    assert.equal(state.responses.length, 1, state.raw);
    assert.match(state.responses[0].start, /^HTTP\/1\.1 200 /, state.raw);
    const got = JSON.parse(state.responses[0].body);
    assert.deepEqual(headerValues(got, 'content-length'), [], JSON.stringify(got.headers));
    assert.deepEqual(headerValues(got, 'transfer-encoding'), ['chunked']);
    assert.equal(got.body, 'hello');
    assert.equal(seen(path).length, 1);
    assert.ok(!upstream.received.some((r) => r.error), 'the upstream never saw a broken message');
  });

  const get = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${extra}\r\n`;

  test('two requests in one write: both forwarded and answered, in order', async () => {
    const state = await exchange(server.port, HOST, get('/pipe-1') + get('/pipe-2'), { count: 2 });
    assert.equal(state.responses.length, 2, `two answers: ${JSON.stringify(state.raw)}`);
    assert.deepEqual(
      state.responses.map((r) => JSON.parse(r.body).start),
      ['GET /pipe-1 HTTP/1.1', 'GET /pipe-2 HTTP/1.1'],
    );
    assert.equal(seen('/pipe-1').length, 1);
    assert.equal(seen('/pipe-2').length, 1);
  });

  test('a POST with a body, then two GETs, in one write: all three answered in order', async () => {
    const bytes =
      post('/pipe-post', ['Content-Length: 5'], 'hello') + get('/pipe-after-post') + get('/pipe-last', 'Connection: close\r\n');
    const state = await exchange(server.port, HOST, bytes, { count: 3 });
    assert.deepEqual(
      state.responses.map((r) => [r.start.split(' ')[1], JSON.parse(r.body).start, JSON.parse(r.body).body]),
      [
        ['200', 'POST /pipe-post HTTP/1.1', 'hello'],
        ['200', 'GET /pipe-after-post HTTP/1.1', ''],
        ['200', 'GET /pipe-last HTTP/1.1', ''],
      ],
      JSON.stringify(state.raw),
    );
  });

  test('a refused request in a pipeline: answered 400, and what follows it is not forwarded', async () => {
    const bytes = get('/pipe-ok') + post('/pipe-bad', ['Content-Length: 1', 'Content-Length: 2'], 'xy') + get('/pipe-never');
    const state = await exchange(server.port, HOST, bytes, { count: 3 });
    assert.ok(state.closed, 'the connection ends after the refusal');
    assert.deepEqual(state.responses.map((r) => r.start.split(' ')[1]), ['200', '400'], JSON.stringify(state.raw));
    assert.equal(seen('/pipe-bad').length, 0);
    assert.equal(seen('/pipe-never').length, 0);
  });

  test('pipelined requests to the portal host are answered in order too', async () => {
    const portal = (path) => `GET ${path} HTTP/1.1\r\nHost: portal.localhost\r\n\r\n`;
    const state = await exchange(server.port, 'portal.localhost', portal('/healthz') + portal('/healthz'), { count: 2 });
    assert.deepEqual(state.responses.map((r) => r.start.split(' ')[1]), ['200', '200'], JSON.stringify(state.raw));
  });
});
