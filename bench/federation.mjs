// Federated sign-in latency and throughput against the same real upstream providers
// as the e2e tests (panva's oidc-provider and a pysaml2 IdP on loopback).
//
//   bash bench/federation.sh            (builds the release binary, then runs this)
//
// Reports, for OIDC and SAML: the whole browser flow (email step -> provider ->
// back signed in) and the portal's own share: the OIDC callback (code exchange,
// JWKS-verified ID token, UserInfo, account decision, session) and the SAML ACS
// (xmlsec signature check, replay cache, request answered). Then OIDC sign-ins per
// second with BENCH_CONCURRENCY parallel browsers for BENCH_SECONDS.
import { performance } from 'node:perf_hooks';
import { Server } from '../tests/e2e/harness.mjs';
import { OidcUpstream } from '../tests/e2e/oidc_upstream.mjs';
import { oidcSignIn, samlSignIn, startSamlIdp } from '../tests/e2e/federation_agent.mjs';

const N = Number(process.env.BENCH_SIGNINS ?? 40);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SECRET = 'bench-upstream-client-secret-8d2c';

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const summary = (xs) => ({
  n: xs.length,
  median_ms: Number(pct(xs, 50).toFixed(1)),
  p95_ms: Number(pct(xs, 95).toFixed(1)),
});

const op = await OidcUpstream.listen();
const idp = await startSamlIdp();
const server = await Server.start('bench-federation', {
  extraToml: `
[log]
level = "warn"

[[federation.oidc]]
id = "partner"
name = "Partner"
domains = ["partner.test"]
issuer = "${op.issuer}"
client_id = "partner"
client_secret = "${SECRET}"
scopes = ["openid", "email", "profile", "groups"]

[[federation.saml]]
id = "saml"
name = "SAML Partner"
domains = ["saml.test"]
metadata_url = "${idp.url}/metadata"
`,
});
try {
  await op.configure([
    {
      clientId: 'partner',
      clientSecret: SECRET,
      redirectUri: `${server.url}/login/federation/partner/callback`,
    },
  ]);
  await idp.trust(`${server.url}/login/federation/saml/metadata`, `${server.url}/login/federation/saml/acs`);

  const oidcFlow = [];
  const oidcCallback = [];
  for (let i = 0; i < N; i++) {
    // The first half provisions new accounts, the second signs the same ones in again.
    const who = `u${i % Math.ceil(N / 2)}`;
    op.next({ sub: `bench-${who}`, email: `${who}@partner.test` });
    const t0 = performance.now();
    const { res } = await oidcSignIn(server, `${who}@partner.test`);
    oidcFlow.push(performance.now() - t0);
    if (!res.url.endsWith('/apps')) throw new Error(`OIDC sign-in ended at ${res.url} (${res.status})`);
    oidcCallback.push(res.hops.find((h) => h.url.includes('/callback')).ms);
  }

  const samlFlow = [];
  const samlAcs = [];
  for (let i = 0; i < N; i++) {
    const who = `s${i % Math.ceil(N / 2)}`;
    await idp.next({ sub: `bench-${who}`, mail: `${who}@saml.test` });
    const t0 = performance.now();
    const { res, acsMs } = await samlSignIn(server, `${who}@saml.test`);
    samlFlow.push(performance.now() - t0);
    if (!res.url.endsWith('/apps')) throw new Error(`SAML sign-in ended at ${res.url} (${res.status})`);
    samlAcs.push(acsMs);
  }

  // Throughput: parallel browsers signing the same provisioned users in again.
  op.next({ sub: 'bench-u0', email: 'u0@partner.test' });
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const { res } = await oidcSignIn(server, 'u0@partner.test');
        if (res.url.endsWith('/apps')) done += 1;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;

  const result = {
    oidc_flow: summary(oidcFlow),
    oidc_callback: summary(oidcCallback),
    saml_flow: summary(samlFlow),
    saml_acs: summary(samlAcs),
    oidc_signins_per_second: Number((done / elapsed).toFixed(1)),
    concurrency: CONCURRENCY,
    seconds: Number(elapsed.toFixed(1)),
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await server.stop();
  await op.stop();
  await idp.stop();
}
