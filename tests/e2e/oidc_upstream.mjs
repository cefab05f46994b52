// An upstream OpenID provider for the federation tests: panva's certified
// `oidc-provider`, on loopback over plain HTTP. It signs in whoever the test says
// next (no login form), so the tests drive Portcullis' side of the flow.
//
//   const op = await OidcUpstream.listen();           // op.issuer is known from here on
//   await op.configure([{ clientId, clientSecret, redirectUri, postLogoutRedirectUri }]);
//   op.next({ sub, email, email_verified, given_name, family_name, groups, amr, acr, deny, tamper });
//   await op.stop();
//
// `tamper: 'aud' | 'exp'` re-signs the ID token with the provider's own key but a wrong
// audience or an expiry in the past: a misbehaving provider, not a broken signature.
import http from 'node:http';
import { once } from 'node:events';
import Provider from 'oidc-provider';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

export class OidcUpstream {
  /** Binds the port; until configure() every request gets 503 (the provider is "down"). */
  static async listen() {
    const op = new OidcUpstream();
    op.accounts = new Map();
    op.login = null;
    op.logouts = 0;
    op.callback = null;
    op.server = http.createServer((req, res) => op.#handle(req, res));
    op.server.listen(0, '127.0.0.1');
    await once(op.server, 'listening');
    op.port = op.server.address().port;
    op.issuer = `http://127.0.0.1:${op.port}`;
    return op;
  }

  /** What the next interaction signs in as (or refuses). */
  next(login) {
    this.login = { amr: ['pwd'], email_verified: true, ...login };
    this.accounts.set(this.login.sub, this.login);
  }

  /** Creates the provider with these relying parties. */
  async configure(clients) {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
    this.privateKey = privateKey;
    const accounts = this.accounts;
    this.provider = new Provider(this.issuer, {
      clients: clients.map(({ clientId, clientSecret, redirectUri, postLogoutRedirectUri }) => ({
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        post_logout_redirect_uris: postLogoutRedirectUri ? [postLogoutRedirectUri] : [],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      })),
      jwks: { keys: [jwk] },
      cookies: { keys: ['federation-test-cookie-key'] },
      scopes: ['openid', 'email', 'profile', 'groups'],
      // amr/acr/auth_time reach the ID token only when a scope's claims list them.
      claims: {
        acr: null,
        amr: null,
        auth_time: null,
        sid: null,
        openid: ['sub', 'acr', 'amr', 'auth_time'],
        email: ['email', 'email_verified'],
        profile: ['given_name', 'family_name'],
        groups: ['groups'],
      },
      conformIdTokenClaims: false,
      ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
      acrValues: ['urn:test:pwd', 'urn:test:mfa'],
      features: {
        devInteractions: { enabled: false },
        rpInitiatedLogout: {
          enabled: true,
          logoutSource: async (ctx, form) => {
            // No confirmation page: submit the provider's own form at once.
            ctx.body = `<!doctype html><html><body>${form}<script>document.forms[0].submit()</script></body></html>`;
          },
        },
      },
      interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
      findAccount: async (ctx, sub) => {
        const a = accounts.get(sub);
        if (!a) return undefined;
        return {
          accountId: sub,
          claims: async () => ({
            sub,
            email: a.email,
            email_verified: a.email_verified,
            given_name: a.given_name,
            family_name: a.family_name,
            groups: a.groups ?? [],
          }),
        };
      },
    });
    this.provider.on('end_session.success', () => {
      this.logouts += 1;
    });
    // A misbehaving provider for the negative tests: the ID token is re-signed with
    // the real key but carries a wrong audience or an expiry in the past.
    this.provider.use(async (ctx, next) => {
      await next();
      const tamper = this.login?.tamper;
      if (ctx.path === '/token' && ctx.status === 200 && tamper && ctx.body?.id_token) {
        const [, payload] = ctx.body.id_token.split('.');
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
        if (tamper === 'aud') claims.aud = 'someone-else';
        if (tamper === 'exp') {
          claims.iat -= 7200;
          claims.exp = claims.iat + 60;
        }
        ctx.body.id_token = await new SignJWT(claims)
          .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
          .sign(this.privateKey);
      }
    });
    this.callback = this.provider.callback();
  }

  async #handle(req, res) {
    try {
      if (!this.callback) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('not configured yet');
      } else if (req.url.startsWith('/interaction/')) {
        await this.#interact(req, res);
      } else {
        this.callback(req, res);
      }
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    }
  }

  async #interact(req, res) {
    const details = await this.provider.interactionDetails(req, res);
    const login = this.login;
    if (!login || login.deny) {
      await this.provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'The user cancelled the sign-in' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    if (details.prompt.name === 'login') {
      const result = { login: { accountId: login.sub, amr: login.amr } };
      if (login.acr) result.login.acr = login.acr;
      await this.provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId
      ? await this.provider.Grant.find(details.grantId)
      : new this.provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await this.provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  async stop() {
    this.server.closeAllConnections?.();
    this.server.close();
    await once(this.server, 'close').catch(() => {});
  }
}
