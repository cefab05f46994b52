// Federated sign-in against real, independent identity providers started here on
// loopback: panva's `oidc-provider` (npm, a certified OpenID provider) as the upstream
// OIDC provider, and a `pysaml2` IdP (tests/federation/saml_idp.py, signatures by
// Debian's xmlsec1) as the upstream SAML provider. Covered: routing at the email step,
// first sign-in provisions, later sign-ins find the account by subject, linking by
// verified email, group mapping, upstream MFA accepted or not per provider, no local
// password for federated domains, upstream logout, and failures that create no user
// and show a page naming the provider (unreachable, error from the provider, ID token
// with the wrong audience or expired, replayed callback, tampered / expired / replayed
// SAML responses). One OIDC flow runs through headless Chromium.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Server, freePort, launchBrowser, newContext, request, screenshot } from './harness.mjs';
import { OidcUpstream } from './oidc_upstream.mjs';
import { Agent, oidcSignIn, samlSignIn, startSamlIdp } from './federation_agent.mjs';

const SECRET = 'upstream-client-secret-5f1e9c2b7a';
const PASSWORD = 'Local-Passw0rd!2026';

async function users(server) {
  const { stdout } = await server.adminOk('users', 'list', '--json');
  return JSON.parse(stdout);
}

async function user(server, email) {
  return (await users(server)).find((u) => u.email === email);
}

function assertFailurePage(res, provider) {
  assert.ok(res.status >= 400, `expected a failure page, got ${res.status} at ${res.url}`);
  assert.match(res.body, new RegExp(`Sign-in with ${provider} failed`));
  assert.match(res.body, /href="\/login\?change=1"[^>]*>Back to sign in/);
}

/**
 * The portal logout does not redirect straight to the upstream provider
 * (Chromium would hold that redirect to the logout form's `form-action
 * 'self'`): it goes through a same-origin page whose link moves on. Returns
 * that link.
 */
async function leavePage(agent, out, provider) {
  const to = out.headers.location;
  assert.ok(to.startsWith(`/login/federation/${provider}/leave?to=`), to);
  const page = await agent.follow(new URL(to, out.url).href);
  assert.equal(page.status, 200, page.body);
  const href = page.body.match(/data-saml-auto href="([^"]+)"/);
  assert.ok(href, page.body);
  return href[1].replace(/&#x2f;/g, '/').replace(/&amp;/g, '&').replace(/&#x3d;/g, '=').replace(/&quot;/g, '"');
}

describe('federated sign-in', () => {
  let op;
  let idp;
  let server;
  let downPort;

  before(async () => {
    op = await OidcUpstream.listen();
    idp = await startSamlIdp();
    downPort = await freePort();
    const oidc = (id, name, domains, extra = '') => `
[[federation.oidc]]
id = "${id}"
name = "${name}"
domains = ${JSON.stringify(domains)}
issuer = "${op.issuer}"
client_id = "${id}"
client_secret = "${SECRET}"
scopes = ["openid", "email", "profile", "groups"]
group_map = { "engineering" = "Engineers" }
default_groups = ["Partners"]
${extra}`;
    server = await Server.start('federation', {
      extraToml: `
[mfa]
policy = "required"
required_groups = ["Engineers"]
${oidc('partner', 'Partner OIDC', ['partner.test'], 'logout_upstream = true')}
${oidc('mfa-partner', 'Strict Partner', ['strict.test'], 'accept_upstream_mfa = true\nmfa_amr = ["mfa", "otp"]')}
${oidc('open-partner', 'Open Partner', ['open.test'], 'allow_local_password = true')}

[[federation.oidc]]
id = "down"
name = "Down Corp"
domains = ["down.test"]
issuer = "http://127.0.0.1:${downPort}"
client_id = "portcullis"

[[federation.saml]]
id = "saml-partner"
name = "Partner SAML"
domains = ["saml.test"]
metadata_url = "${idp.url}/metadata"
group_map = { "staff" = "Engineers" }
accept_upstream_mfa = true
mfa_authn_contexts = ["urn:test:mfa"]
logout_upstream = true
`,
    });
    const base = server.url;
    await op.configure(
      ['partner', 'mfa-partner', 'open-partner'].map((id) => ({
        clientId: id,
        clientSecret: SECRET,
        redirectUri: `${base}/login/federation/${id}/callback`,
        postLogoutRedirectUri: `${base}/login?signed_out=1`,
      })),
    );
    await idp.trust(`${base}/login/federation/saml-partner/metadata`, `${base}/login/federation/saml-partner/acs`);
  });

  after(async () => {
    await server?.stop();
    await op?.stop();
    await idp?.stop();
  });

  test('a federated domain skips the password page; other domains do not', async () => {
    const agent = new Agent(server);
    const fed = await agent.typeEmail('someone@partner.test');
    assert.equal(fed.headers.location, '/login/federation/partner');
    const note = await agent.follow('/login/federation/partner');
    assert.match(note.body, /routed to your identity provider/);
    assert.match(note.body, /Continue to Partner OIDC/);
    assert.match(note.body, /http-equiv="refresh"/);
    const local = await new Agent(server).typeEmail('demo@example.com');
    assert.equal(local.headers.location, '/login/password');
  });

  test('first sign-in provisions the user with mapped groups and no password', async () => {
    op.next({ sub: 'sub-ann', email: 'ann@partner.test', given_name: 'Ann', family_name: 'Lee', groups: ['sales'] });
    const { agent, res } = await oidcSignIn(server, 'ann@partner.test');
    assert.equal(res.status, 200, res.body.slice(0, 500));
    assert.match(res.url, /\/apps$/);
    const ann = await user(server, 'ann@partner.test');
    assert.equal(ann.first_name, 'Ann');
    assert.equal(ann.last_name, 'Lee');
    assert.deepEqual(ann.groups, ['Partners'], 'default group only: "sales" maps to nothing');
    assert.equal(ann.password_changed_at, null);
    const security = await agent.follow('/security');
    assert.match(security.body, /You sign in with Partner OIDC, so you have no password here/);
    assert.doesNotMatch(security.body, /action="\/security\/password"/);
  });

  test('the second sign-in finds the account by subject, not by email', async () => {
    const before = (await users(server)).length;
    op.next({ sub: 'sub-ann', email: 'ann.renamed@partner.test', given_name: 'Ann', family_name: 'Lee' });
    const { res } = await oidcSignIn(server, 'ann@partner.test');
    assert.match(res.url, /\/apps$/);
    assert.equal((await users(server)).length, before, 'no second account');
    assert.equal(await user(server, 'ann.renamed@partner.test'), undefined);
    // Another subject with Ann's email cannot take her account (already linked).
    op.next({ sub: 'sub-impostor', email: 'ann@partner.test' });
    const other = await oidcSignIn(server, 'ann@partner.test');
    assertFailurePage(other.res, 'Partner OIDC');
    assert.match(other.res.body, /already linked/);
  });

  test('an existing local account is linked by verified email only', async () => {
    await server.adminOk('users', 'add', '--email', 'bob@partner.test', '--first-name', 'Bob', '--last-name', 'Local');
    op.next({ sub: 'sub-bob-unverified', email: 'bob@partner.test', email_verified: false });
    const refused = await oidcSignIn(server, 'bob@partner.test');
    assertFailurePage(refused.res, 'Partner OIDC');
    op.next({ sub: 'sub-bob', email: 'bob@partner.test', given_name: 'Robert', groups: ['engineering'] });
    // Engineers must have MFA here and this provider's MFA does not count: our enrolment follows.
    const linked = await oidcSignIn(server, 'bob@partner.test');
    assert.match(linked.res.url, /\/mfa\/totp\/setup$/);
    const bob = await user(server, 'bob@partner.test');
    assert.equal(bob.last_name, 'Local', 'the linked account is the existing one');
    assert.deepEqual([...bob.groups].sort(), ['Engineers', 'Partners']);
  });

  test('group mapping follows the provider: a group no longer asserted is removed', async () => {
    op.next({ sub: 'sub-cid', email: 'cid@strict.test', groups: ['engineering'], amr: ['pwd', 'mfa'] });
    await oidcSignIn(server, 'cid@strict.test');
    assert.deepEqual([...(await user(server, 'cid@strict.test')).groups].sort(), ['Engineers', 'Partners']);
    op.next({ sub: 'sub-cid', email: 'cid@strict.test', groups: [], amr: ['pwd'] });
    const { res } = await oidcSignIn(server, 'cid@strict.test');
    assert.match(res.url, /\/apps$/);
    assert.deepEqual((await user(server, 'cid@strict.test')).groups, ['Partners']);
  });

  test('upstream MFA counts only where the provider is configured to accept it', async () => {
    op.next({ sub: 'sub-dee', email: 'dee@strict.test', groups: ['engineering'], amr: ['pwd', 'otp'] });
    const accepted = await oidcSignIn(server, 'dee@strict.test');
    assert.match(accepted.res.url, /\/apps$/, 'upstream otp satisfies our MFA at Strict Partner');
    op.next({ sub: 'sub-dee', email: 'dee@strict.test', groups: ['engineering'], amr: ['pwd'] });
    const notDone = await oidcSignIn(server, 'dee@strict.test');
    assert.match(notDone.res.url, /\/mfa\/totp\/setup$/, 'password alone upstream: our MFA follows');
    op.next({ sub: 'sub-eve', email: 'eve@partner.test', groups: ['engineering'], amr: ['pwd', 'mfa'] });
    const notAccepted = await oidcSignIn(server, 'eve@partner.test');
    assert.match(notAccepted.res.url, /\/mfa\/totp\/setup$/, 'Partner OIDC is not trusted for MFA');
    // Our own enrolment then ends the sign-in, as for a local user (code from oathtool).
    const eve = notAccepted.agent;
    assert.equal((await eve.request('GET', '/apps')).headers.location, '/mfa/totp/setup', 'no session before the factor');
    const csrf = notAccepted.res.body.match(/name="csrf" value="([^"]+)"/)[1];
    await eve.post('/mfa/totp/setup', { csrf });
    const scan = await eve.follow('/mfa/totp/setup/scan');
    const key = scan.body.match(/<code id="totp-key">([^<]+)<\/code>/)[1];
    const code = execFileSync('oathtool', ['--totp', '-b', key]).toString().trim();
    const done = await eve.post('/mfa/totp/setup/confirm', { csrf, code });
    assert.equal(done.status, 303, done.body.slice(0, 300));
    assert.equal(done.headers.location, '/apps');
    assert.equal((await eve.request('GET', '/apps')).status, 200);
    const { stdout } = await server.adminOk('audit', '--limit', '5', '--json');
    const signin = JSON.parse(stdout).find((e) => e.event === 'signin' && e.subject === 'eve@partner.test');
    assert.equal(signin.detail, 'amr fed otp mfa', 'the session says the first factor was the provider');
  });

  test('a local account of a federated domain cannot use its password unless allowed', async () => {
    await server.adminOk('users', 'add', '--email', 'fay@partner.test', '--first-name', 'Fay', '--last-name', 'Local');
    const agent = new Agent(server);
    await agent.typeEmail('fay@partner.test');
    const page = await agent.request('GET', '/login/password');
    assert.equal(page.headers.location, '/login/federation/partner');
    const posted = await agent.post('/login/password', { csrf: await agent.csrf(), password: PASSWORD });
    assert.equal(posted.status, 303);
    assert.equal(posted.headers.location, '/login/federation/partner');
    assert.equal(agent.cookies(new URL(server.url).host).has('__Host-portcullis_session'), false);
    // Open Partner allows local passwords: the note offers the password page.
    const open = new Agent(server);
    await open.typeEmail('gil@open.test');
    const note = await open.follow('/login/federation/open-partner');
    assert.match(note.body, /Use a password instead/);
    assert.equal((await open.request('GET', '/login/password')).status, 200);
  });

  test('the admin API reports each provider as this instance saw it', async () => {
    // A refused sign-in through the provider nobody answers for, and one the
    // upstream provider itself refuses (its discovery document read first).
    const down = await oidcSignIn(server, 'hal@down.test');
    assert.equal(down.res.status, 502);
    op.next({ sub: 'sub-zed', email: 'zed@partner.test', deny: true });
    const denied = await oidcSignIn(server, 'zed@partner.test');
    assertFailurePage(denied.res, 'Partner OIDC');
    const { stdout } = await server.adminOk(
      '--json', 'clients', 'add', '--client-id', 'fed-audit', '--grant', 'client_credentials', '--scope', 'portcullis:audit',
    );
    const basic = Buffer.from(`fed-audit:${JSON.parse(stdout).client_secret}`).toString('base64');
    const tok = await request(server.port, 'POST', '/oauth2/token', {
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
      body: 'grant_type=client_credentials&scope=portcullis%3Aaudit',
    });
    assert.equal(tok.status, 200, tok.body);
    const res = await request(server.port, 'GET', '/api/admin/v1/federation', {
      headers: { authorization: `Bearer ${JSON.parse(tok.body).access_token}` },
    });
    assert.equal(res.status, 200, res.body);
    const by = Object.fromEntries(JSON.parse(res.body).map((p) => [p.id, p]));
    assert.deepEqual(Object.keys(by).sort(), ['down', 'mfa-partner', 'open-partner', 'partner', 'saml-partner']);
    // The OIDC provider's discovery document was read (at start-up the provider
    // may not have answered yet: then that error is kept, older than the read).
    assert.equal(by.partner.kind, 'oidc');
    assert.equal(by.partner.issuer, op.issuer);
    assert.deepEqual(by.partner.domains, ['partner.test']);
    assert.ok(by.partner.fetched_at > 0, JSON.stringify(by.partner));
    assert.ok((by.partner.error_at ?? 0) <= by.partner.fetched_at, JSON.stringify(by.partner));
    assert.match(by.partner.signin_failure, /answered with an error/);
    // The one nobody answers for: never read, the reason, and the refused sign-in.
    assert.equal(by.down.fetched_at, null);
    assert.match(by.down.error, /could not be reached/);
    assert.match(by.down.signin_failure, /could not be reached/);
    // pysaml2's metadata, read from its URL: its entity ID and certificate expiry.
    const saml = by['saml-partner'];
    assert.equal(saml.kind, 'saml');
    assert.equal(saml.metadata, `${idp.url}/metadata`);
    assert.ok(saml.fetched_at > 0, JSON.stringify(saml));
    assert.ok(saml.issuer, JSON.stringify(saml));
    assert.ok(saml.cert_not_after > Date.now() / 1000, JSON.stringify(saml));
  });

  test('failures show a page naming the provider and create no user', async () => {
    const down = await oidcSignIn(server, 'hal@down.test');
    assertFailurePage(down.res, 'Down Corp');
    assert.equal(down.res.status, 502);
    assert.match(down.res.body, /could not be reached/);

    op.next({ sub: 'sub-ida', email: 'ida@partner.test', deny: true });
    const denied = await oidcSignIn(server, 'ida@partner.test');
    assertFailurePage(denied.res, 'Partner OIDC');
    assert.match(denied.res.body, /did not sign you in/);

    op.next({ sub: 'sub-ida', email: 'ida@partner.test', tamper: 'aud' });
    const aud = await oidcSignIn(server, 'ida@partner.test');
    assertFailurePage(aud.res, 'Partner OIDC');
    assert.match(aud.res.body, /could not be accepted/);

    op.next({ sub: 'sub-ida', email: 'ida@partner.test', tamper: 'exp' });
    const expired = await oidcSignIn(server, 'ida@partner.test');
    assertFailurePage(expired.res, 'Partner OIDC');

    assert.equal(await user(server, 'ida@partner.test'), undefined, 'no account was created');
    const { stdout } = await server.adminOk('audit', '--limit', '50', '--json');
    const failures = JSON.parse(stdout).filter((e) => e.event === 'federation.signin' && e.outcome === 'failure');
    assert.ok(failures.some((e) => /Invalid audiences/.test(e.detail)), JSON.stringify(failures));
    assert.ok(failures.some((e) => /provider down/.test(e.detail)));
    assert.ok(!stdout.includes(SECRET));
  });

  test('a replayed OIDC callback is refused', async () => {
    op.next({ sub: 'sub-jo', email: 'jo@partner.test' });
    const agent = new Agent(server);
    await agent.typeEmail('jo@partner.test');
    let res = await agent.request('GET', '/login/federation/partner/start');
    const flight = new Map(agent.cookies(new URL(server.url).host));
    while (!res.headers.location.includes('/callback')) {
      res = await agent.request('GET', new URL(res.headers.location, res.url).href);
    }
    const callback = res.headers.location;
    const first = await agent.follow(callback);
    assert.match(first.url, /\/apps$/);
    // The same callback again, with the flight cookie the first one used.
    const thief = new Agent(server);
    thief.jar.set(new URL(server.url).host, flight);
    const replay = await thief.follow(callback);
    assertFailurePage(replay, 'Partner OIDC');
  });

  test('upstream logout ends the provider session too', async () => {
    op.next({ sub: 'sub-kim', email: 'kim@partner.test' });
    const { agent, res } = await oidcSignIn(server, 'kim@partner.test');
    assert.match(res.url, /\/apps$/);
    const csrf = res.body.match(/name="csrf" value="([^"]+)"/)[1];
    const out = await agent.post('/logout', { csrf });
    assert.equal(out.status, 303);
    const upstream = await leavePage(agent, out, 'partner');
    assert.ok(upstream.startsWith(`${op.issuer}/session/end`), upstream);
    assert.match(upstream, /id_token_hint=/);
    assert.equal((await agent.request('GET', '/apps')).status, 303, 'signed out here');
  });

  test('SAML: first sign-in provisions, the next finds the account by NameID', async () => {
    await idp.next({ sub: 'saml-lou', mail: 'lou@saml.test', givenName: 'Lou', sn: 'Reed', groups: ['staff'], class_ref: 'urn:test:mfa' });
    const first = await samlSignIn(server, 'lou@saml.test', { replay: true });
    assert.match(first.res.url, /\/apps$/, `${first.res.status} ${first.res.body.slice(0, 400)}`);
    const lou = await user(server, 'lou@saml.test');
    assert.equal(lou.first_name, 'Lou');
    assert.deepEqual(lou.groups, ['Engineers']);
    assertFailurePage(first.res.replayed, 'Partner SAML');
    const count = (await users(server)).length;
    await idp.next({ sub: 'saml-lou', mail: 'lou.other@saml.test', class_ref: 'urn:test:mfa' });
    const again = await samlSignIn(server, 'lou@saml.test');
    assert.match(again.res.url, /\/apps$/);
    assert.equal((await users(server)).length, count);
    assert.deepEqual((await user(server, 'lou@saml.test')).groups, [], 'staff no longer asserted');
    // Single logout: the portal session ends and the IdP gets a LogoutRequest for Lou.
    const csrf = again.res.body.match(/name="csrf" value="([^"]+)"/)[1];
    const out = await again.agent.post('/logout', { csrf });
    const upstream = await leavePage(again.agent, out, 'saml-partner');
    assert.ok(upstream.startsWith(`${idp.url}/slo/redirect?SAMLRequest=`), upstream);
    const slo = await again.agent.follow(upstream);
    assert.equal(slo.status, 200, slo.body);
    assert.deepEqual(await idp.logouts(), ['saml-lou']);
    assert.equal((await again.agent.request('GET', '/apps')).status, 303, 'signed out here');
  });

  test('SAML: upstream MFA by AuthnContextClassRef; otherwise ours', async () => {
    await idp.next({ sub: 'saml-max', mail: 'max@saml.test', groups: ['staff'] });
    const { res } = await samlSignIn(server, 'max@saml.test');
    assert.match(res.url, /\/mfa\/totp\/setup$/);
  });

  test('SAML: tampered, expired, SHA-1, wrong audience or recipient, refused and unsigned responses create no user', async () => {
    await idp.next({ sub: 'saml-ned', mail: 'ned@saml.test', tamper: 'admin@saml.test' });
    const tampered = await samlSignIn(server, 'ned@saml.test');
    assertFailurePage(tampered.res, 'Partner SAML');
    await idp.next({ sub: 'saml-ned', mail: 'ned@saml.test', expired: true });
    const expired = await samlSignIn(server, 'ned@saml.test');
    assertFailurePage(expired.res, 'Partner SAML');
    await idp.next({ sub: 'saml-ned', mail: 'ned@saml.test', unsigned: true });
    const unsigned = await samlSignIn(server, 'ned@saml.test');
    assertFailurePage(unsigned.res, 'Partner SAML');
    await idp.next({ sub: 'saml-ned', mail: 'ned@saml.test', sha1: true });
    const sha1 = await samlSignIn(server, 'ned@saml.test');
    assertFailurePage(sha1.res, 'Partner SAML');
    await idp.next({ sub: 'saml-ned', mail: 'ned@saml.test', audience: 'https://someone-else.example/sp' });
    const audience = await samlSignIn(server, 'ned@saml.test');
    assertFailurePage(audience.res, 'Partner SAML');
    await idp.next({ sub: 'saml-ned', mail: 'ned@saml.test', recipient: 'https://someone-else.example/acs' });
    const recipient = await samlSignIn(server, 'ned@saml.test');
    assertFailurePage(recipient.res, 'Partner SAML');
    await idp.next({ sub: 'saml-ned', mail: 'ned@saml.test', deny: true });
    const denied = await samlSignIn(server, 'ned@saml.test');
    assertFailurePage(denied.res, 'Partner SAML');
    assert.match(denied.res.body, /did not sign you in/);
    assert.equal(await user(server, 'ned@saml.test'), undefined);
    assert.equal(await user(server, 'admin@saml.test'), undefined);
    const { stdout } = await server.adminOk('audit', '--limit', '20', '--json');
    const details = JSON.parse(stdout)
      .filter((e) => e.event === 'federation.signin' && e.outcome === 'failure')
      .map((e) => e.detail)
      .join('\n');
    assert.match(details, /must be signed/, details);
    assert.match(details, /Condition expired/);
    assert.match(details, /AudienceRequirement/);
    assert.match(details, /destination does not match/i);
  });

  test('in Chromium: email, the routing note, the provider, and back signed in where the user was going', async () => {
    op.next({ sub: 'sub-zoe', email: 'zoe@partner.test', given_name: 'Zoe', family_name: 'Park' });
    const browser = await launchBrowser();
    try {
      const context = await newContext(browser);
      const page = await context.newPage();
      await page.goto(`${server.url}/login?return_to=%2Fprofile`);
      await page.getByLabel('Email').fill('zoe@partner.test');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByText("You will be routed to your identity provider's login page").waitFor();
      await screenshot(page, 'federation-note');
      // return_to survives the trip to the provider.
      await page.waitForURL(/\/profile$/);
      await screenshot(page, 'federation-signed-in');
      await page.goto(`${server.url}/security`);
      await page.getByText('You sign in with Partner OIDC, so you have no password here').waitFor();
      // Log out with logout_upstream: Chromium holds redirects after the
      // logout form's POST to `form-action 'self'`, so the hop to the
      // provider's end_session goes through a same-origin page.
      await page.goto(`${server.url}/apps`);
      await page.getByRole('button', { name: 'Account menu' }).click();
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.waitForURL((u) => u.href.startsWith(`${op.issuer}/session/end`), { timeout: 15_000 });
      assert.deepEqual(context.blocked, []);
    } finally {
      await browser.close();
    }
  });
});
