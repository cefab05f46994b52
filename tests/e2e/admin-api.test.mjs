// The admin REST API against the real binary, with independent clients: the
// access token comes from the token endpoint through openid-client (a certified
// OAuth library), and every API call is made with its fetchProtectedResource. A
// user created through the API shows in `portcullis admin users show`, and one
// created by the CLI reads the same through the API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as client from 'openid-client';
import { DEMO, Server, request, tlsFetch } from './harness.mjs';

const API = '/api/admin/v1';

describe('admin REST API', () => {
  let server;
  let fetchImpl;
  const tokens = {};

  /** A client_credentials client made by the CLI, and a token for its role scope. */
  async function machine(id, scope) {
    const { stdout } = await server.adminOk(
      '--json', 'clients', 'add', '--client-id', id, '--grant', 'client_credentials', '--scope', scope,
    );
    const { client_secret: secret } = JSON.parse(stdout);
    const config = await client.discovery(new URL(server.url), id, secret, undefined, {
      [client.customFetch]: fetchImpl,
    });
    const t = await client.clientCredentialsGrant(config, { scope });
    return { config, token: t.access_token };
  }

  /** An API call through openid-client; resolves to {status, headers, body}. */
  async function api(who, method, urlPath, body) {
    const { config, token } = tokens[who];
    const headers = new Headers();
    if (body !== undefined) headers.set('content-type', 'application/json');
    let res;
    try {
      res = await client.fetchProtectedResource(
        config, token, new URL(`${server.url}${API}${urlPath}`), method,
        body === undefined ? undefined : JSON.stringify(body), headers,
      );
    } catch (e) {
      // openid-client turns a WWW-Authenticate answer into an error; keep its response.
      if (!e.response) throw e;
      res = e.response;
    }
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  }

  before(async () => {
    server = await Server.start('admin-api');
    const ca = await readFile(path.join(server.dataDir, 'certs', 'ca.pem'));
    fetchImpl = tlsFetch(ca);
    tokens.admin = await machine('provisioner', 'portcullis:admin');
    tokens.auditor = await machine('siem', 'portcullis:audit');
  });

  after(async () => {
    await server?.stop();
  });

  test('the OpenAPI document is OpenAPI 3.1 and describes the user routes', async () => {
    const res = await request(server.port, 'GET', `${API}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = JSON.parse(res.body);
    assert.match(doc.openapi, /^3\.1\./);
    assert.ok(doc.paths[`${API}/users`].get);
    assert.ok(doc.paths[`${API}/users/{email}`].patch);
  });

  test('a user created through the API is what the CLI shows', async () => {
    const made = await api('admin', 'POST', '/users', {
      email: 'Api.Made@example.com', first_name: 'Ada', last_name: 'Made', groups: [],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.headers.get('location'), `${API}/users/api.made%40example.com`);
    // What a person at the server sees...
    const text = (await server.adminOk('users', 'show', 'api.made@example.com')).stdout;
    assert.match(text, /^email: +api\.made@example\.com$/m);
    assert.match(text, /^name: +Ada Made$/m);
    assert.match(text, new RegExp(`^id: +${made.body.user.id}$`, 'm'));
    // ...and the CLI's JSON carries the same values as the API's answer.
    const cli = JSON.parse((await server.adminOk('--json', 'users', 'show', 'api.made@example.com')).stdout);
    for (const key of ['id', 'email', 'first_name', 'last_name', 'username', 'admin_role', 'profile']) {
      assert.deepEqual(cli[key], made.body.user[key], key);
    }
    assert.deepEqual(cli.groups, made.body.groups);
    const audit = await api('admin', 'GET', '/audit?event=admin.user.add&actor=client:provisioner');
    assert.equal(audit.body.total, 1);
    assert.equal(audit.body.items[0].subject, 'api.made@example.com');
  });

  test('a user created by the CLI reads the same through the API, with a version', async () => {
    await server.adminOk('users', 'add', '--email', 'cli.made@example.com', '--first-name', 'Cy', '--last-name', 'Li');
    const got = await api('admin', 'GET', '/users/cli.made%40example.com');
    assert.equal(got.status, 200);
    assert.equal(got.body.user.first_name, 'Cy');
    const etag = got.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]+"$/);
    const search = await api('admin', 'GET', '/users?text=made&limit=1');
    assert.equal(search.body.total, 2);
    assert.equal(search.body.items.length, 1);
    const demo = await api('admin', 'GET', `/users?role=admin`);
    assert.deepEqual(demo.body.items.map((v) => v.user.email), [DEMO.email]);
  });

  test('an auditor token reads and is refused writes with a problem', async () => {
    const list = await api('auditor', 'GET', '/users');
    assert.equal(list.status, 200);
    const denied = await api('auditor', 'POST', '/groups', { name: 'nope' });
    assert.equal(denied.status, 403);
    assert.equal(denied.headers.get('content-type'), 'application/problem+json');
    assert.equal(denied.body.status, 403);
    assert.match(denied.body.type, /^urn:portcullis:problem:forbidden$/);
  });

  test('no credential is 401 with a Bearer challenge; a bad body is a problem', async () => {
    const res = await request(server.port, 'GET', `${API}/users`);
    assert.equal(res.status, 401);
    assert.match(res.headers['www-authenticate'], /^Bearer /);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const bad = await api('admin', 'POST', '/users', { email: 'not-an-email' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.field, 'email');
  });

  test('an SP registered from its metadata through the API is what its IdP metadata answers for', async () => {
    const xml = await readFile(new URL('../../idp/tests/fixtures/saml/sp-metadata.xml', import.meta.url), 'utf8');
    const wiki = 'https%3A%2F%2Fwiki.example.com%2Fshibboleth';
    const made = await api('admin', 'POST', '/saml/sps', { metadata: xml, application: 'Team Wiki' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.entity_id, 'https://wiki.example.com/shibboleth');
    assert.equal(made.body.metadata_url, `/saml/metadata?sp=${wiki}`);
    // A second SP, described by hand, that signs nothing.
    const plain = await api('admin', 'POST', '/saml/sps', {
      entity_id: 'https://plain.example.com/sp', acs: ['https://plain.example.com/acs'], application: 'Team Wiki',
    });
    assert.equal(plain.status, 201, JSON.stringify(plain.body));
    // Each SP's IdP metadata says what applies to it: the wiki's metadata asks it to sign.
    const wikiMd = await request(server.port, 'GET', made.body.metadata_url);
    assert.equal(wikiMd.status, 200);
    assert.match(wikiMd.body, /WantAuthnRequestsSigned="true"/);
    const plainMd = await request(server.port, 'GET', plain.body.metadata_url);
    assert.match(plainMd.body, /WantAuthnRequestsSigned="false"/);
    // The CLI lists what the API registered; an auditor reads it and the federation status.
    const listed = (await server.adminOk('saml-sps', 'list')).stdout;
    assert.match(listed, /https:\/\/wiki\.example\.com\/shibboleth/);
    const got = await api('auditor', 'GET', `/saml/sps/${wiki}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.certificate.subject, 'CN=test-idp');
    const denied = await api('auditor', 'DELETE', `/saml/sps/${wiki}`);
    assert.equal(denied.status, 403);
    const fed = await api('auditor', 'GET', '/federation');
    assert.equal(fed.status, 200);
    assert.deepEqual(fed.body, []);
  });
});
