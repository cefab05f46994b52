// Raw HTTP/1.1 on the wire for the framing and connection tests: a TLS client that
// writes exact bytes (no client library tidying the request up), a parser for what
// comes back, and an upstream that records exactly the bytes the gateway forwarded.
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';

const HEADER_END = '\r\n\r\n';

/**
 * Parses one HTTP/1.1 message at the start of `buf` (a latin1 string). Returns
 * `{ message, rest }`, or null when it is not complete yet. `message` has `start` (the
 * request or status line), `headers` (`[name, value]` in order, names as sent),
 * `body` and `framing` ('length', 'chunked' or 'none').
 */
export function parseMessage(buf, { request = false, closed = false } = {}) {
  const end = buf.indexOf(HEADER_END);
  if (end < 0) return null;
  const lines = buf.slice(0, end).split('\r\n');
  const start = lines.shift();
  const headers = lines.map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()];
  });
  const all = (name) => headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
  let rest = buf.slice(end + HEADER_END.length);
  const te = all('transfer-encoding');
  const cl = all('content-length');
  if (te.length && /chunked\s*$/i.test(te.at(-1))) {
    let body = '';
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      if (lineEnd < 0) return null;
      const size = parseInt(rest.slice(0, lineEnd), 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size line ${JSON.stringify(rest.slice(0, lineEnd))}`);
      if (size === 0) {
        // No trailers from anyone here: the last chunk and an empty line.
        const trailerEnd = rest.indexOf('\r\n\r\n', lineEnd);
        if (trailerEnd < 0) return null;
        return { message: { start, headers, body, framing: 'chunked' }, rest: rest.slice(trailerEnd + 4) };
      }
      if (rest.length < lineEnd + 2 + size + 2) return null;
      body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
      rest = rest.slice(lineEnd + 2 + size + 2);
    }
  }
  if (cl.length) {
    const n = Number(cl[0].split(',')[0].trim());
    if (rest.length < n) return null;
    return { message: { start, headers, body: rest.slice(0, n), framing: 'length' }, rest: rest.slice(n) };
  }
  // A request without framing has no body; a response without it runs to the close.
  if (request) return { message: { start, headers, body: '', framing: 'none' }, rest };
  if (!closed) return null;
  return { message: { start, headers, body: rest, framing: 'none' }, rest: '' };
}

/** The values of header `name` (any case) in a parsed message, in order. */
export const headerValues = (message, name) =>
  message.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

/**
 * An upstream that parses each request itself (keep-alive, pipelined or not) and
 * answers it with JSON `{ start, headers, body }` of exactly what it received.
 * `received` lists those requests in order; `connections` counts accepted sockets.
 */
export async function startRecordingUpstream() {
  const received = [];
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    let buf = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => {
      buf += d;
      for (;;) {
        let parsed;
        try {
          parsed = parseMessage(buf, { request: true });
        } catch (error) {
          socket.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
          received.push({ error: error.message, raw: buf });
          return;
        }
        if (!parsed) return;
        buf = parsed.rest;
        received.push(parsed.message);
        const json = Buffer.from(JSON.stringify(parsed.message));
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${json.length}\r\n\r\n`);
        socket.write(json);
      }
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    addr: `127.0.0.1:${server.address().port}`,
    received,
    get connections() {
      return connections;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** A TLS connection to the gateway on 127.0.0.1:`port` for `host` (SNI), HTTP/1.1 only. */
export async function connectTls(port, host) {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: host,
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
  });
  await once(socket, 'secureConnect');
  return socket;
}

/**
 * Collects what the server sends on `socket` (latin1) and parses responses as they
 * complete. `until(state)` waits until `state => boolean` holds for
 * `{ responses, closed, raw }`, failing after `ms`; the condition is checked on every
 * byte received and on close, never on a timer.
 */
export function reader(socket) {
  const state = { responses: [], closed: false, raw: '', pending: '' };
  const waiters = new Set();
  const check = () => {
    for (const w of waiters) if (w.cond(state)) w.resolve(state);
  };
  const parse = () => {
    for (;;) {
      const parsed = parseMessage(state.pending, { closed: state.closed });
      if (!parsed) return;
      state.pending = parsed.rest;
      state.responses.push(parsed.message);
      if (!state.pending) return;
    }
  };
  socket.setEncoding('latin1');
  socket.on('data', (d) => {
    state.raw += d;
    state.pending += d;
    parse();
    check();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    state.closed = true;
    parse();
    check();
  });
  return {
    state,
    until(cond, ms, what) {
      if (cond(state)) return Promise.resolve(state);
      return new Promise((resolve, reject) => {
        const w = {
          cond,
          resolve: (s) => {
            clearTimeout(w.timer);
            waiters.delete(w);
            resolve(s);
          },
        };
        w.timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`${what ?? 'condition'} not met within ${ms} ms; received so far: ${JSON.stringify(state.raw.slice(0, 2_000))} closed=${state.closed}`));
        }, ms);
        waiters.add(w);
      });
    },
  };
}

/**
 * Writes `bytes` in one write on a new TLS connection and waits until `count`
 * responses arrived, or the connection closed, within `ms`.
 */
export async function exchange(port, host, bytes, { count = 1, ms = 15_000 } = {}) {
  const socket = await connectTls(port, host);
  const r = reader(socket);
  socket.write(bytes);
  try {
    await r.until((s) => s.responses.length >= count || s.closed, ms, `${count} response(s) or close`);
  } finally {
    socket.destroy();
  }
  return r.state;
}

/** A plain TCP connection (no TLS): for holding connections open cheaply. */
export async function connectTcp(port) {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}
