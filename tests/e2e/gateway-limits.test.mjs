// Issue 14, defect 4: connections cannot be held or hoarded. Against the real binary
// with short deadlines (`gateway.tls_handshake_timeout`, `gateway.request_header_timeout`
// = 1s) and `gateway.max_connections_per_address = 3`:
//   - a client sending one header line at a time, never finishing, is cut off by the
//     header deadline (it was held as long as it kept sending);
//   - a client that never starts the TLS handshake is cut off by the handshake deadline;
//   - a fourth connection from one address is refused while three are open, another
//     address is still served, and a place given back is taken again.
// Each client uses its own loopback address (127.0.0.x) so connections of the harness
// (127.0.0.1) never count against the cap under test. Every wait is on a condition (the
// connection closed, an answer arrived) with a deadline; the only timer drips header
// lines, which is the attack itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { Server } from './harness.mjs';
import { reader, startRecordingUpstream } from './wire.mjs';

const HOST = 'limits.localhost';
const DEADLINE_MS = 1_000;
// How much later than the deadline the close may come on a busy machine.
const SLACK_MS = 10_000;

/** A TCP connection to the gateway from local address `from`. */
async function tcpFrom(port, from) {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
  await once(socket, 'connect');
  return socket;
}

/** A TLS connection from `from`; rejects when the server closes before the handshake ends. */
function tlsFrom(port, from) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      localAddress: from,
      servername: HOST,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the TLS handshake completed')));
  });
}

/** Resolves with the milliseconds until `socket` closes; rejects after `ms`. */
function closedWithin(socket, ms) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed || socket.closed) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

const getRequest = (extra = '') => `GET /ok HTTP/1.1\r\nHost: ${HOST}\r\n${extra}\r\n`;

describe('gateway connection limits', { timeout: 120_000 }, () => {
  let upstream;
  let server;

  before(async () => {
    upstream = await startRecordingUpstream();
    server = await Server.start('gateway-limits', {
      gatewayToml: `tls_handshake_timeout = "${DEADLINE_MS}ms"
request_header_timeout = "${DEADLINE_MS}ms"
max_connections_per_address = 3`,
      policies: {
        limits: `name = "Limits"
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

  test('a header sent one line at a time is cut off by the header deadline', async () => {
    const socket = await tlsFrom(server.port, '127.0.0.2');
    const r = reader(socket);
    socket.write(`GET /slow HTTP/1.1\r\nHost: ${HOST}\r\n`);
    // The attack: another header line every 200 ms, never the blank line that ends them.
    let n = 0;
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write(`X-Slow-${n++}: ${'a'.repeat(10)}\r\n`);
    }, 200);
    try {
      const ms = await closedWithin(socket, DEADLINE_MS + SLACK_MS);
      assert.ok(n >= 1, `the client kept sending (${n} lines) and was closed anyway after ${ms} ms`);
      assert.equal(r.state.responses.length, 0, 'no answer: the request never got a header');
      assert.ok(!upstream.received.some((q) => q.start?.includes('/slow')), 'nothing forwarded');
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  });

  test('a request in time is served; the connection left idle after it is closed by the deadline', async () => {
    const socket = await tlsFrom(server.port, '127.0.0.2');
    const r = reader(socket);
    socket.write(getRequest());
    await r.until((s) => s.responses.length === 1, SLACK_MS, 'an answer');
    assert.match(r.state.responses[0].start, /^HTTP\/1\.1 200 /);
    await closedWithin(socket, DEADLINE_MS + SLACK_MS);
  });

  test('a client that never starts the TLS handshake is cut off by the handshake deadline', async () => {
    const socket = await tcpFrom(server.port, '127.0.0.3');
    socket.on('error', () => {});
    try {
      await closedWithin(socket, DEADLINE_MS + SLACK_MS);
    } finally {
      socket.destroy();
    }
  });

  test('the fourth connection from one address is refused; other addresses are served', async () => {
    const from = '127.0.0.4';
    const open = [];
    try {
      for (let i = 0; i < 3; i++) open.push(await tlsFrom(server.port, from));
      await assert.rejects(tlsFrom(server.port, from), 'the fourth is closed before its handshake');
      // Another address is unaffected.
      const other = await tlsFrom(server.port, '127.0.0.5');
      const r = reader(other);
      other.write(getRequest('Connection: close\r\n'));
      await r.until((s) => s.responses.length === 1, SLACK_MS, 'an answer on another address');
      assert.match(r.state.responses[0].start, /^HTTP\/1\.1 200 /);
      other.destroy();
      // The three are served (each within the header deadline).
      for (const socket of open) {
        const rr = reader(socket);
        socket.write(getRequest('Connection: close\r\n'));
        await rr.until((s) => s.responses.length === 1, SLACK_MS, 'an answer on an admitted connection');
        await closedWithin(socket, SLACK_MS);
      }
      // Their places are given back: the address is admitted again.
      const deadline = Date.now() + SLACK_MS;
      let again = null;
      while (!again) {
        try {
          again = await tlsFrom(server.port, from);
        } catch (error) {
          // The server may not have seen the closes yet: try again until the deadline.
          if (Date.now() > deadline) throw error;
        }
      }
      open.push(again);
    } finally {
      for (const socket of open) socket.destroy();
    }
  });
});
