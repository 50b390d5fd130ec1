// The official MCP TypeScript SDK, unmodified, runs the whole OAuth flow against
// `mcpgate dev`: 401 → protected resource metadata → authorization server
// metadata → dynamic client registration → consent (answered over HTTP, as a
// browser would submit the form) → code exchange with PKCE → tools/call. Then a
// second client reuses the stored registration and tokens, and a refresh rotates
// the refresh token.

import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { answerConsent } from '../lib/consent.mjs';
import { jwtClaims, startDevServer, unusedPort } from '../lib/dev-server.mjs';

const REQUESTED_SCOPE = 'openid mcp:tools offline_access';

/**
 * An `OAuthClientProvider` keeping everything in memory. Its
 * `redirectToAuthorization` plays the user: it opens the consent page over HTTP,
 * presses Approve and keeps the code the redirect carries.
 */
class InMemoryOAuthProvider {
  constructor(redirectUrl) {
    this._redirectUrl = redirectUrl;
    this._clientInformation = undefined;
    this._tokens = undefined;
    this._codeVerifier = undefined;
    this.savedTokens = [];
    this.authorizationUrls = [];
    this.states = [];
    this.callbacks = [];
    this.invalidated = [];
  }

  get redirectUrl() {
    return this._redirectUrl;
  }

  get clientMetadata() {
    return {
      client_name: 'mcpgate e2e (TypeScript SDK)',
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: REQUESTED_SCOPE,
    };
  }

  state() {
    const state = randomBytes(16).toString('base64url');
    this.states.push(state);
    return state;
  }

  clientInformation() {
    return this._clientInformation;
  }

  saveClientInformation(info) {
    this._clientInformation = info;
  }

  tokens() {
    return this._tokens;
  }

  saveTokens(tokens) {
    this._tokens = tokens;
    this.savedTokens.push(tokens);
  }

  /** Test hook: replaces the stored access token, keeping everything else. */
  replaceAccessToken(accessToken) {
    this._tokens = { ...this._tokens, access_token: accessToken };
  }

  async redirectToAuthorization(authorizationUrl) {
    this.authorizationUrls.push(new URL(authorizationUrl));
    const { location } = await answerConsent(authorizationUrl, 'Approve');
    this.callbacks.push(location);
  }

  saveCodeVerifier(codeVerifier) {
    this._codeVerifier = codeVerifier;
  }

  codeVerifier() {
    if (!this._codeVerifier) throw new Error('no code verifier saved');
    return this._codeVerifier;
  }

  invalidateCredentials(scope) {
    this.invalidated.push(scope);
    if (scope === 'all' || scope === 'client') this._clientInformation = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._codeVerifier = undefined;
  }
}

/** A fetch that remembers every request the SDK makes (method and URL). */
function recordingFetch(log) {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    // Logged when the request starts, not when its answer arrives: a request
    // still in flight from before a test's mark (the SDK's GET stream) must not
    // count as one made after it.
    const entry = { method, url, status: undefined };
    log.push(entry);
    const response = await fetch(input, init);
    entry.status = response.status;
    return response;
  };
}

function claimsFromToolResult(result) {
  assert.notEqual(result.isError, true, `inspect_token failed: ${JSON.stringify(result)}`);
  if (result.structuredContent) return result.structuredContent;
  const text = result.content.find((c) => c.type === 'text');
  assert.ok(text, `inspect_token returned no JSON: ${JSON.stringify(result)}`);
  return JSON.parse(text.text);
}

function newClient() {
  return new Client({ name: 'mcpgate-e2e-ts-sdk', version: '1.0.0' });
}

describe('MCP TypeScript SDK OAuth client against mcpgate dev', () => {
  let server;
  let provider;
  let redirectUrl;
  const requests = [];
  let firstTokens;
  let firstClaims;

  before(async () => {
    server = await startDevServer();
    redirectUrl = `http://127.0.0.1:${await unusedPort()}/callback`;
    provider = new InMemoryOAuthProvider(redirectUrl);
  });

  after(async () => {
    await server?.stop();
  });

  test('connect → 401 → discovery → registration → consent → code exchange → tools/call', async (t) => {
    const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), {
      authProvider: provider,
      fetch: recordingFetch(requests),
    });
    const client = newClient();
    await assert.rejects(client.connect(transport), UnauthorizedError);
    await client.close().catch(() => {});

    // The SDK found the authorization server through the MCP server's metadata.
    const urls = requests.map((r) => `${r.method} ${r.url} → ${r.status}`);
    assert.equal(requests[0].status, 401, urls.join('\n'));
    assert.ok(
      requests.some((r) => r.url.includes('/.well-known/oauth-protected-resource/mcp') && r.status === 200),
      `no protected resource metadata request:\n${urls.join('\n')}`,
    );
    assert.ok(
      requests.some(
        (r) => r.url === `${server.envUrl}/.well-known/oauth-authorization-server/resources/${server.resourceId}` && r.status === 200,
      ),
      `no authorization server metadata request:\n${urls.join('\n')}`,
    );
    const registrations = requests.filter((r) => r.url.endsWith(`/api/v1/resources/${server.resourceId}/clients:register`));
    assert.equal(registrations.length, 1, urls.join('\n'));
    assert.equal(registrations[0].status, 201);

    const info = provider.clientInformation();
    assert.ok(info, 'the SDK saved no client information');
    assert.match(info.client_id, /^m2m_\d+$/);
    assert.equal(info.client_secret, undefined, 'a public client (auth method none) must get no secret');

    // The authorization request the SDK built.
    assert.equal(provider.authorizationUrls.length, 1);
    const authUrl = provider.authorizationUrls[0];
    assert.equal(`${authUrl.origin}${authUrl.pathname}`, `${server.envUrl}/oauth/authorize`);
    assert.equal(authUrl.searchParams.get('client_id'), info.client_id);
    assert.equal(authUrl.searchParams.get('response_type'), 'code');
    assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authUrl.searchParams.get('redirect_uri'), redirectUrl);
    assert.equal(authUrl.searchParams.get('resource'), server.mcpUrl);
    const requestedScopes = authUrl.searchParams.get('scope').split(' ');
    // SDK 1.x asks for the resource's scopes_supported when the metadata lists
    // them, and falls back to clientMetadata.scope only when it does not.
    t.diagnostic(`scope requested by the SDK: ${requestedScopes.join(' ')}`);
    for (const s of REQUESTED_SCOPE.split(' ')) assert.ok(requestedScopes.includes(s), `scope ${s} not requested: ${requestedScopes}`);

    // The consent page redirected back with a code, the same state and RFC 9207 iss.
    assert.equal(provider.callbacks.length, 1);
    const callback = provider.callbacks[0];
    assert.equal(`${callback.origin}${callback.pathname}`, redirectUrl);
    assert.equal(callback.searchParams.get('error'), null, callback.href);
    const code = callback.searchParams.get('code');
    assert.ok(code, `no code in ${callback.href}`);
    assert.equal(callback.searchParams.get('state'), provider.states.at(-1));
    assert.equal(callback.searchParams.get('iss'), `${server.envUrl}/resources/${server.resourceId}`);

    await transport.finishAuth(code);
    firstTokens = provider.tokens();
    assert.ok(firstTokens?.access_token, 'finishAuth saved no access token');
    assert.ok(firstTokens.refresh_token, 'offline_access was requested, so a refresh token must be issued');
    assert.equal(firstTokens.token_type.toLowerCase(), 'bearer');

    // Reconnect with the tokens and ask the server who we are.
    const transport2 = new StreamableHTTPClientTransport(new URL(server.mcpUrl), {
      authProvider: provider,
      fetch: recordingFetch(requests),
    });
    const client2 = newClient();
    await client2.connect(transport2);
    assert.equal(client2.getServerVersion()?.name, 'My Scalekit Protected Server');
    const { tools } = await client2.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['auth_status', 'inspect_token', 'protected_action']);
    const claims = claimsFromToolResult(await client2.callTool({ name: 'inspect_token', arguments: {} }));
    await client2.close();

    assert.equal(claims.client_id, info.client_id);
    assert.match(claims.sub, /^usr_\d+$/);
    assert.ok(Array.isArray(claims.aud), `aud is not an array: ${JSON.stringify(claims.aud)}`);
    assert.ok(claims.aud.includes(server.mcpUrl), `aud ${claims.aud} lacks ${server.mcpUrl}`);
    assert.ok(claims.aud.includes(server.resourceId), `aud ${claims.aud} lacks ${server.resourceId}`);
    assert.ok(
      [server.envUrl, `${server.envUrl}/resources/${server.resourceId}`].includes(claims.iss),
      `unexpected iss ${claims.iss}`,
    );
    for (const s of REQUESTED_SCOPE.split(' ')) assert.ok(claims.scope.split(' ').includes(s), `scope claim ${claims.scope} lacks ${s}`);
    assert.ok(claims.exp > claims.iat);
    // The tool saw the very token the SDK holds.
    assert.deepEqual(jwtClaims(firstTokens.access_token), claims);
    firstClaims = claims;
  });

  test('a second client reuses the stored registration and tokens, then refreshes', async (t) => {
    assert.ok(firstTokens && firstClaims, 'the first test must pass first');
    const seen = requests.length;
    const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), {
      authProvider: provider,
      fetch: recordingFetch(requests),
    });
    const client = newClient();
    await client.connect(transport);

    await t.test('no new registration, no new consent, same token', async () => {
      const claims = claimsFromToolResult(await client.callTool({ name: 'inspect_token', arguments: {} }));
      const fresh = requests.slice(seen);
      assert.ok(!fresh.some((r) => r.url.includes('clients:register')), 'registered again');
      assert.ok(!fresh.some((r) => r.url.includes('/oauth/')), `went to the authorization server: ${JSON.stringify(fresh)}`);
      assert.ok(!fresh.some((r) => r.status === 401), 'got a 401 with a valid token');
      assert.equal(provider.authorizationUrls.length, 1, 'asked for consent again');
      assert.equal(claims.jti, firstClaims.jti);
      assert.equal(claims.client_id, firstClaims.client_id);
    });

    await t.test('a rejected access token makes the SDK refresh, and the refresh token rotates', async () => {
      // SDK 1.x refreshes when the server rejects the access token with 401 (it
      // does not act on expires_in by itself), so make the stored one unusable:
      // the dev server's sample token with a broken signature.
      const before = provider.tokens();
      const savedBefore = provider.savedTokens.length;
      provider.replaceAccessToken(server.token.slice(0, -4) + 'AAAA');
      const mark = requests.length;
      const claims = claimsFromToolResult(await client.callTool({ name: 'inspect_token', arguments: {} }));

      const fresh = requests.slice(mark);
      const tokenCalls = fresh.filter((r) => r.url === `${server.envUrl}/oauth/token`);
      assert.equal(fresh[0].status, 401, JSON.stringify(fresh));
      assert.equal(tokenCalls.length, 1, JSON.stringify(fresh));
      assert.equal(tokenCalls[0].status, 200);
      assert.equal(provider.authorizationUrls.length, 1, 'refresh must not need a new consent');
      assert.equal(provider.savedTokens.length, savedBefore + 1);

      const after = provider.tokens();
      assert.notEqual(after.access_token, before.access_token);
      assert.ok(after.refresh_token, 'the refresh response carries a new refresh token');
      assert.notEqual(after.refresh_token, before.refresh_token, 'the refresh token was not rotated');

      assert.deepEqual(jwtClaims(after.access_token), claims);
      assert.notEqual(claims.jti, firstClaims.jti);
      assert.equal(claims.client_id, firstClaims.client_id);
      assert.equal(claims.sub, firstClaims.sub);
      assert.equal(claims.sid, firstClaims.sid, 'a refresh continues the same session');
      assert.equal(claims.scope, firstClaims.scope);
    });

    await client.close();

    await t.test('the spent refresh token is refused, and its reuse revokes the rotated one', async () => {
      const clientId = provider.clientInformation().client_id;
      const refresh = (refreshToken) =>
        fetch(`${server.envUrl}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
        });
      const replay = await refresh(firstTokens.refresh_token);
      assert.equal(replay.status, 400);
      assert.equal((await replay.json()).error, 'invalid_grant');
      const current = await refresh(provider.tokens().refresh_token);
      assert.equal(current.status, 400, 'reuse of a rotated refresh token must revoke the whole grant');
      assert.equal((await current.json()).error, 'invalid_grant');
    });
  });
});
