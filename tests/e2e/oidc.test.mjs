// Interoperability of the OpenID Connect provider with an independent, certified relying
// party library (npm openid-client), through the real binary and Debian's Chromium:
// discovery, code + PKCE with state and nonce, ID token validation, userinfo, refresh
// rotation, introspection, revocation, client credentials, RP-initiated logout, and the
// failures (wrong redirect URI, PKCE mismatch, replayed code, reused refresh token,
// wrong client secret).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { once } from 'node:events';
import path from 'node:path';
import * as client from 'openid-client';
import { DEMO, Server, launchBrowser, newContext, screenshot, tlsFetch } from './harness.mjs';

const RP_SECRET = 'rp-secret-2f8e1c9a7b6d5e4f3a2b1c0d9e8f7a6b';
const SVC_SECRET = 'svc-secret-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d';
// The relying party's callback: a small HTTP server on loopback records each visit.
// (Playwright routes do not see the targets of redirects, so a real listener it is.)
const rpServer = http.createServer((req, res) => {
  // Every visit but the browser's own request for a favicon.
  if (!req.url.startsWith('/favicon.ico')) captured.push(`http://127.0.0.1:${rpServer.address().port}${req.url}`);
  res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
});
const captured = [];
let CB;
let BYE;
const sha = (s) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

const clients = () => `
[[oidc.clients]]
client_id = "rp"
client_secret_hash = "${sha(RP_SECRET)}"
redirect_uris = ["${CB}"]
post_logout_redirect_uris = ["${BYE}"]
application = "Team Wiki"

[[oidc.clients]]
client_id = "rp-public"
redirect_uris = ["${CB}"]
application = "Team Wiki"
id_token_signed_response_alg = "ES256"

[[oidc.clients]]
client_id = "svc"
client_secret_hash = "${sha(SVC_SECRET)}"
grant_types = ["client_credentials"]
scopes = ["profile"]
`;

/** The OAuth error code a rejected openid-client call carries. */
async function oauthError(promise) {
  try {
    await promise;
  } catch (e) {
    // A 401 with WWW-Authenticate surfaces as a challenge error; the body still has the code.
    if (e.code === 'OAUTH_WWW_AUTHENTICATE_CHALLENGE' && e.response) {
      try {
        return (await e.response.json()).error;
      } catch {
        // fall through to the generic fields
      }
    }
    return e.error ?? e.cause?.error ?? e.code ?? String(e);
  }
  assert.fail('expected the call to fail');
}

describe('OpenID Connect with openid-client and Chromium', () => {
  let server;
  let browser;
  let context;
  let page;
  let fetchImpl;
  let rp;

  const discover = (id, secret, metadata, auth) =>
    client.discovery(new URL(server.url), id, metadata ?? secret, auth, {
      [client.customFetch]: fetchImpl,
    });

  /** Opens `url` in the browser and returns the callback URL the provider redirected to. */
  async function authorizeInBrowser(url, { signIn = false } = {}) {
    const before = captured.length;
    await page.goto(url.href);
    if (signIn) {
      await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
      await page.getByRole('button', { name: 'Continue', exact: true }).click();
      await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
      await page.getByRole('button', { name: 'Login', exact: true }).click();
    }
    const deadline = Date.now() + 30_000;
    while (captured.length === before) {
      if (Date.now() > deadline) {
        await screenshot(page, 'oidc-no-callback');
        assert.fail(`no callback; the browser is at ${page.url()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return new URL(captured[captured.length - 1]);
  }

  function pkceParams() {
    const verifier = client.randomPKCECodeVerifier();
    return { verifier, state: client.randomState(), nonce: client.randomNonce() };
  }

  async function authUrl(config, { verifier, state, nonce }, extra = {}) {
    return client.buildAuthorizationUrl(config, {
      redirect_uri: CB,
      scope: 'openid profile email groups',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
  }

  before(async () => {
    rpServer.listen(0, '127.0.0.1');
    await once(rpServer, 'listening');
    CB = `http://127.0.0.1:${rpServer.address().port}/cb`;
    BYE = `http://127.0.0.1:${rpServer.address().port}/bye`;
    server = await Server.start('oidc', { extraToml: clients() });
    const ca = await readFile(path.join(server.dataDir, 'certs', 'ca.pem'));
    fetchImpl = tlsFetch(ca);
    rp = await discover('rp', RP_SECRET);
    browser = await launchBrowser();
    context = await newContext(browser);
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    rpServer.close();
  });

  test('discovery lists the endpoints and what is supported', () => {
    const m = rp.serverMetadata();
    assert.equal(m.issuer, server.url);
    assert.equal(m.token_endpoint, `${server.url}/oauth2/token`);
    assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(m.response_types_supported, ['code']);
    assert.ok(m.end_session_endpoint && m.introspection_endpoint && m.revocation_endpoint);
  });

  let tokens;
  let claims;

  test('code + PKCE with state and nonce through Chromium; ID token validated', async () => {
    const p = pkceParams();
    const cb = await authorizeInBrowser(await authUrl(rp, p), { signIn: true });
    assert.equal(cb.searchParams.get('iss'), server.url);
    tokens = await client.authorizationCodeGrant(rp, cb, {
      pkceCodeVerifier: p.verifier,
      expectedState: p.state,
      expectedNonce: p.nonce,
      idTokenExpected: true,
    });
    claims = tokens.claims();
    assert.equal(claims.iss, server.url);
    assert.equal(claims.aud, 'rp');
    assert.equal(claims.email, DEMO.email);
    assert.notEqual(claims.sub, DEMO.email, 'sub is a stable id, not the email');
    assert.deepEqual(claims.amr, ['pwd']);
    assert.ok(claims.auth_time && claims.sid);
    assert.ok(claims.groups.includes('Staff'));
    assert.ok(tokens.refresh_token);
  });

  test('a replayed code fails and revokes the tokens issued from it', async () => {
    const p = pkceParams();
    const cb = await authorizeInBrowser(await authUrl(rp, p));
    const first = await client.authorizationCodeGrant(rp, cb, {
      pkceCodeVerifier: p.verifier,
      expectedState: p.state,
      expectedNonce: p.nonce,
    });
    assert.equal(
      await oauthError(
        client.authorizationCodeGrant(rp, cb, { pkceCodeVerifier: p.verifier, expectedState: p.state, expectedNonce: p.nonce }),
      ),
      'invalid_grant',
    );
    assert.equal((await client.tokenIntrospection(rp, first.access_token)).active, false);
    assert.equal(await oauthError(client.refreshTokenGrant(rp, first.refresh_token)), 'invalid_grant');
  });

  test('userinfo and introspection', async () => {
    const info = await client.fetchUserInfo(rp, tokens.access_token, claims.sub);
    assert.equal(info.email, DEMO.email);
    assert.equal(info.given_name, DEMO.firstName);
    const intro = await client.tokenIntrospection(rp, tokens.access_token);
    assert.equal(intro.active, true);
    assert.equal(intro.client_id, 'rp');
    assert.equal(intro.sub, claims.sub);
  });

  test('refresh rotates; reusing the old refresh token revokes the family', async () => {
    const fresh = await client.refreshTokenGrant(rp, tokens.refresh_token);
    assert.ok(fresh.access_token && fresh.refresh_token);
    assert.notEqual(fresh.refresh_token, tokens.refresh_token);
    // The client uses its new token; then the old one comes back: a copy is
    // loose, and the whole family ends. (An old token presented again before
    // its successor was ever used is a lost answer, answered once more within
    // [oidc] refresh_reuse_grace: see faults.test.mjs.)
    const newer = await client.refreshTokenGrant(rp, fresh.refresh_token);
    assert.equal(await oauthError(client.refreshTokenGrant(rp, tokens.refresh_token)), 'invalid_grant');
    assert.equal(await oauthError(client.refreshTokenGrant(rp, newer.refresh_token)), 'invalid_grant');
    const intro = await client.tokenIntrospection(rp, newer.access_token);
    assert.equal(intro.active, false);
  });

  test('revocation of a refresh token', async () => {
    const p = pkceParams();
    // Signed in already: straight back to the callback.
    const cb = await authorizeInBrowser(await authUrl(rp, p));
    const t = await client.authorizationCodeGrant(rp, cb, {
      pkceCodeVerifier: p.verifier,
      expectedState: p.state,
      expectedNonce: p.nonce,
    });
    await client.tokenRevocation(rp, t.refresh_token);
    assert.equal(await oauthError(client.refreshTokenGrant(rp, t.refresh_token)), 'invalid_grant');
    assert.equal((await client.tokenIntrospection(rp, t.access_token)).active, false);
  });

  test('PKCE verifier mismatch is refused', async () => {
    const p = pkceParams();
    const cb = await authorizeInBrowser(await authUrl(rp, p));
    const wrong = client.randomPKCECodeVerifier();
    assert.equal(
      await oauthError(
        client.authorizationCodeGrant(rp, cb, { pkceCodeVerifier: wrong, expectedState: p.state, expectedNonce: p.nonce }),
      ),
      'invalid_grant',
    );
  });

  test('acr_values is a preference; an essential acr that cannot be met is an error redirect', async () => {
    // The demo user has no second factor: acr_values=mfa still gets a code, acr=pwd.
    let p = pkceParams();
    let cb = await authorizeInBrowser(await authUrl(rp, p, { acr_values: 'mfa' }));
    const t = await client.authorizationCodeGrant(rp, cb, {
      pkceCodeVerifier: p.verifier,
      expectedState: p.state,
      expectedNonce: p.nonce,
    });
    assert.equal(t.claims().acr, 'pwd');
    // Essential: the client hears why, with its state; no dead-end page.
    p = pkceParams();
    const claims = JSON.stringify({ id_token: { acr: { essential: true, value: 'mfa' } } });
    cb = await authorizeInBrowser(await authUrl(rp, p, { claims }));
    assert.equal(cb.searchParams.get('error'), 'unmet_authentication_requirements');
    assert.equal(cb.searchParams.get('state'), p.state);
    assert.equal(cb.searchParams.get('code'), null);
  });

  test('token responses are not cached; userinfo without a token names no error', async () => {
    const res = await fetchImpl(`${server.url}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`rp:${RP_SECRET}`).toString('base64')}`,
      },
      body: 'grant_type=authorization_code&code=unknown&redirect_uri=' + encodeURIComponent(CB),
    });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('pragma'), 'no-cache');
    const info = await fetchImpl(`${server.url}/oauth2/userinfo`, {});
    assert.equal(info.status, 401);
    const challenge = info.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer/);
    assert.doesNotMatch(challenge, /error/);
  });

  test('public client with PKCE and an ES256 ID token', async () => {
    const pub = await discover('rp-public', undefined, { client_id: 'rp-public', id_token_signed_response_alg: 'ES256' }, client.None());
    const p = pkceParams();
    const cb = await authorizeInBrowser(await authUrl(pub, p));
    const t = await client.authorizationCodeGrant(pub, cb, {
      pkceCodeVerifier: p.verifier,
      expectedState: p.state,
      expectedNonce: p.nonce,
    });
    assert.equal(t.claims().aud, 'rp-public');
  });

  test('a wrong redirect URI gets an error page, never a redirect', async () => {
    const p = pkceParams();
    const url = await authUrl(rp, p, { redirect_uri: CB.replace('/cb', '/evil') });
    const before = captured.length;
    const res = await page.goto(url.href);
    assert.equal(res.status(), 400);
    assert.match(await page.content(), /not registered/);
    assert.equal(captured.length, before);
  });

  test('client credentials; a wrong client secret is refused', async () => {
    const svc = await discover('svc', SVC_SECRET);
    const t = await client.clientCredentialsGrant(svc, { scope: 'profile' });
    assert.ok(t.access_token);
    assert.equal(t.refresh_token, undefined);
    const intro = await client.tokenIntrospection(svc, t.access_token);
    assert.equal(intro.active, true);
    assert.equal(intro.sub, 'svc');
    const wrong = await discover('svc', 'not-the-secret');
    assert.equal(await oauthError(client.clientCredentialsGrant(wrong)), 'invalid_client');
  });

  test('RP-initiated logout ends the portal session and returns with state', async () => {
    const p = pkceParams();
    const cb = await authorizeInBrowser(await authUrl(rp, p));
    const t = await client.authorizationCodeGrant(rp, cb, {
      pkceCodeVerifier: p.verifier,
      expectedState: p.state,
      expectedNonce: p.nonce,
    });
    const end = client.buildEndSessionUrl(rp, {
      id_token_hint: t.id_token,
      post_logout_redirect_uri: BYE,
      state: 'bye-state',
    });
    const back = await authorizeInBrowser(end);
    assert.equal(back.origin + back.pathname, BYE);
    assert.equal(back.searchParams.get('state'), 'bye-state');
    await page.goto(`${server.url}/apps`);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal(await oauthError(client.refreshTokenGrant(rp, t.refresh_token)), 'invalid_grant');
  });
  test('RP-initiated logout without an ID token asks the user, then returns with state', async () => {
    // Signed in again (the test above signed out).
    const p = pkceParams();
    const cb = await authorizeInBrowser(await authUrl(rp, p), { signIn: true });
    const t = await client.authorizationCodeGrant(rp, cb, {
      pkceCodeVerifier: p.verifier,
      expectedState: p.state,
      expectedNonce: p.nonce,
    });
    const end = client.buildEndSessionUrl(rp, {
      post_logout_redirect_uri: BYE,
      state: 'confirm-state',
    });
    const before = captured.length;
    const res = await page.goto(end.href);
    assert.equal(res.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/oauth2/logout');
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    // The portal's look: its stylesheet applies (the card layout).
    assert.ok(await page.locator('.card').isVisible());
    assert.equal(captured.length, before, 'not sent back while the session lives');
    // An access token is no hint: a page, the session lives.
    const bad = client.buildEndSessionUrl(rp, { id_token_hint: t.access_token });
    assert.equal((await page.goto(bad.href)).status(), 400);
    // Asked again, and confirmed.
    await page.goto(end.href);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    const deadline = Date.now() + 30_000;
    while (captured.length === before) {
      if (Date.now() > deadline) {
        await screenshot(page, 'oidc-logout-confirm');
        assert.fail(`no return; the browser is at ${page.url()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const back = new URL(captured[captured.length - 1]);
    assert.equal(back.origin + back.pathname, BYE);
    assert.equal(back.searchParams.get('state'), 'confirm-state');
    await page.goto(`${server.url}/apps`);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal(await oauthError(client.refreshTokenGrant(rp, t.refresh_token)), 'invalid_grant');
  });
});
