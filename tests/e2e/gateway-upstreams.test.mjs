// End-to-end tests of how the gateway reaches upstreams (issue 5), with the real binary
// and upstream servers started here: health checks (pingora's load balancer skips an
// address that fails its TCP or HTTP check; without a check, requests reach the dead
// address and fail), and TLS upstreams (a server whose certificate a throw-away CA made
// with openssl signed: trusted through upstream_ca, refused without it or under the
// wrong name, accepted with upstream_verify = false). Paths are public here: the
// session side of the gateway has its own suites.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Server, freePort, httpsGet } from './harness.mjs';

const TEST_TIMEOUT = 300_000;

/** A throw-away CA and a certificate for upstream.internal signed by it (openssl). */
async function makeCerts() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-upstream-tls-'));
  const f = (n) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2',
    '-subj', '/CN=Portcullis test upstream CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'pipe' });
  execFileSync('openssl', ['req', ...ec, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=upstream.internal'],
    { stdio: 'pipe' });
  await writeFile(f('ext.cnf'),
    'subjectAltName=DNS:upstream.internal\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  execFileSync('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('leaf.pem'), '-days', '2', '-extfile', f('ext.cnf')], { stdio: 'pipe' });
  return { dir, ca: f('ca.pem'), cert: f('leaf.pem'), key: f('leaf.key') };
}

/** An upstream naming itself; `/healthz` answers `health` (200 or 503). */
async function upstream(name, { health = 200, tls = null } = {}) {
  const handler = (req, res) => {
    if (req.url === '/healthz') {
      res.statusCode = health;
      return res.end(health === 200 ? 'ok' : 'sick');
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ upstream: name }));
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, addr: `127.0.0.1:${server.address().port}` };
}

const publicPolicy = (host, upstreams, extra = '') => `host = "${host}"
upstreams = [${upstreams.map((u) => JSON.stringify(u)).join(', ')}]
access = "public"
everyone = true
${extra}
`;

describe('gateway upstreams', { timeout: TEST_TIMEOUT }, () => {
  let server;
  let certs;
  const servers = [];

  before(async () => {
    certs = await makeCerts();
    const tls = { cert: await readFile(certs.cert), key: await readFile(certs.key) };
    const a = await upstream('a');
    const sick = await upstream('sick', { health: 503 });
    const secure = await upstream('secure', { tls });
    servers.push(a, sick, secure);
    // A port nothing listens on: an upstream that is down.
    const dead = `127.0.0.1:${await freePort()}`;
    server = await Server.start('gateway-upstreams', {
      policies: {
        tcpcheck: publicPolicy('tcpcheck.localhost', [a.addr, dead], 'health_check = { kind = "tcp", interval = "1s" }'),
        nocheck: publicPolicy('nocheck.localhost', [a.addr, dead]),
        httpcheck: publicPolicy(
          'httpcheck.localhost',
          [a.addr, sick.addr],
          'health_check = { kind = "http", path = "/healthz", interval = "1s" }',
        ),
        alldown: publicPolicy('alldown.localhost', [dead], 'health_check = { kind = "tcp", interval = "1s" }'),
        tlsok: publicPolicy(
          'tlsok.localhost',
          [secure.addr],
          `upstream_tls = true\nupstream_sni = "upstream.internal"\nupstream_ca = "${certs.ca}"`,
        ),
        tlsuntrusted: publicPolicy('tlsuntrusted.localhost', [secure.addr], 'upstream_tls = true\nupstream_sni = "upstream.internal"'),
        tlswrongname: publicPolicy(
          'tlswrongname.localhost',
          [secure.addr],
          `upstream_tls = true\nupstream_sni = "other.internal"\nupstream_ca = "${certs.ca}"`,
        ),
        tlsnoverify: publicPolicy(
          'tlsnoverify.localhost',
          [secure.addr],
          'upstream_tls = true\nupstream_sni = "upstream.internal"\nupstream_verify = false',
        ),
        plaintotls: publicPolicy('plaintotls.localhost', [secure.addr]),
      },
    });
  });

  after(async () => {
    await server?.stop();
    for (const s of servers) s.server.close();
    if (certs) await rm(certs.dir, { recursive: true, force: true });
  });

  /** Status codes and upstream names of `n` requests to `host`. */
  async function spray(host, n = 8) {
    const seen = [];
    for (let i = 0; i < n; i++) {
      const res = await httpsGet(server.port, `/r${i}`, { host });
      seen.push(res.status === 200 ? JSON.parse(res.body).upstream : res.status);
    }
    return seen;
  }

  test('health checks: failing addresses are skipped; without a check they fail requests', async () => {
    // The first probe runs at start-up; give the HTTP one a moment to answer.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(await spray('tcpcheck.localhost'), Array(8).fill('a'), 'the dead address is skipped');
    assert.deepEqual(await spray('httpcheck.localhost'), Array(8).fill('a'), 'the 503 /healthz address is skipped');
    const unchecked = await spray('nocheck.localhost');
    assert.ok(unchecked.includes('a') && unchecked.some((s) => s >= 500), `round robin without a check: ${unchecked}`);
    const none = await httpsGet(server.port, '/', { host: 'alldown.localhost' });
    assert.ok(none.status >= 500 && none.status < 600, `every address down: ${none.status}`);
    assert.match(server.log, /upstream failed its health check/);
  });

  test('TLS upstreams: a private CA trusted by upstream_ca; wrong trust or name refused', async () => {
    assert.deepEqual(await spray('tlsok.localhost', 2), ['secure', 'secure']);
    for (const host of ['tlsuntrusted.localhost', 'tlswrongname.localhost', 'plaintotls.localhost']) {
      const res = await httpsGet(server.port, '/', { host });
      assert.ok(res.status >= 500 && res.status < 600, `${host}: ${res.status} ${res.body.slice(0, 100)}`);
      assert.doesNotMatch(res.body, /"upstream"/, `${host}: no upstream content`);
    }
    assert.deepEqual(await spray('tlsnoverify.localhost', 1), ['secure'], 'upstream_verify = false (development only)');
  });
});
