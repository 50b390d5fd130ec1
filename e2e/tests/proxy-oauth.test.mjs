// The official MCP TypeScript SDK runs the whole OAuth flow against the
// gateway (`mcpgate dev -- COMMAND` in front of the official
// `@modelcontextprotocol/server-everything` over stdio): 401 → protected
// resource metadata → authorization server metadata → dynamic client
// registration at the dev authorization server → consent in Chromium (the
// dev server's consent page, Approve pressed; Debian's chromium driven by
// playwright-core, as in browser-consent.test.mjs) → code exchange with PKCE →
// tools/call through the gateway to the stdio server.

import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { chromium } from 'playwright-core';

import { jwtClaims, startDevServer, unusedPort } from '../lib/dev-server.mjs';

const require = createRequire(import.meta.url);
const EVERYTHING = join(
  dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
  'dist',
  'index.js',
);

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Opens `authorizationUrl` in a new Chromium tab, presses Approve, and returns
 * the redirect to `redirectUrl` the browser was sent (answered here, as the
 * client's callback page would be).
 */
async function approveInChromium(context, authorizationUrl, redirectUrl) {
  const page = await context.newPage();
  try {
    let resolve;
    const captured = new Promise((r) => {
      resolve = r;
    });
    await page.route(
      (url) => url.href.startsWith(redirectUrl),
      async (route) => {
        resolve(new URL(route.request().url()));
        await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Signed in</title>' });
      },
    );
    const response = await page.goto(authorizationUrl);
    assert.equal(response.status(), 200, `the consent page answered ${response.status()}`);
    await page.getByRole('button', { name: 'Approve' }).click();
    return await captured;
  } finally {
    await page.close();
  }
}

/** An in-memory `OAuthClientProvider` whose redirect approves the consent page in Chromium. */
class Provider {
  constructor(redirectUrl, browser) {
    this.redirectUrl = redirectUrl;
    this.browser = browser;
    this.info = undefined;
    this.saved = undefined;
    this.verifier = undefined;
    this.authorizationUrls = [];
    this.callbacks = [];
  }

  get clientMetadata() {
    return {
      client_name: 'mcpgate e2e (TypeScript SDK through the gateway)',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'openid mcp:tools',
    };
  }

  state() {
    return randomBytes(16).toString('base64url');
  }

  clientInformation() {
    return this.info;
  }

  saveClientInformation(info) {
    this.info = info;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens) {
    this.saved = tokens;
  }

  async redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url));
    this.callbacks.push(await approveInChromium(this.browser, url.toString(), this.redirectUrl));
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }
}

function recordingFetch(log) {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const response = await fetch(input, init);
    log.push({ method, url, status: response.status });
    return response;
  };
}

describe('TypeScript SDK OAuth flow through the gateway (server-everything over stdio)', () => {
  let server;
  let provider;
  let browser;
  let profileDir;
  const requests = [];

  before(async () => {
    server = await startDevServer({ args: ['--', process.execPath, EVERYTHING, 'stdio'] });
    // Fails (never skips) without Chromium; `bash e2e/run.sh` installs it.
    profileDir = mkdtempSync(join(tmpdir(), 'mcpgate-e2e-proxy-chromium-'));
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    provider = new Provider(`http://127.0.0.1:${await unusedPort()}/callback`, browser);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  test('401 → PRM → registration → consent → token → tools/call', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), {
      authProvider: provider,
      fetch: recordingFetch(requests),
    });
    const first = new Client({ name: 'mcpgate-e2e-proxy-oauth', version: '1.0.0' });
    await assert.rejects(first.connect(transport), UnauthorizedError);
    await first.close().catch(() => {});

    const trace = requests.map((r) => `${r.method} ${r.url} → ${r.status}`).join('\n');
    assert.equal(requests[0].url, server.mcpUrl, trace);
    assert.equal(requests[0].status, 401, trace);
    assert.ok(
      requests.some((r) => r.url.includes('/.well-known/oauth-protected-resource') && r.status === 200),
      `the SDK did not read the gateway's protected resource metadata:\n${trace}`,
    );
    const registrations = requests.filter((r) => r.url.includes('clients:register'));
    assert.equal(registrations.length, 1, trace);
    assert.equal(registrations[0].status, 201, trace);
    assert.ok(provider.info?.client_id, 'no client registered');

    assert.equal(provider.authorizationUrls.length, 1);
    assert.equal(provider.authorizationUrls[0].searchParams.get('resource'), server.mcpUrl);
    const callback = provider.callbacks[0];
    assert.equal(callback.searchParams.get('error'), null, callback.href);
    const code = callback.searchParams.get('code');
    assert.ok(code, `no code in ${callback.href}`);

    await transport.finishAuth(code);
    const tokens = provider.tokens();
    assert.ok(tokens?.access_token, 'no access token after the code exchange');
    const claims = jwtClaims(tokens.access_token);
    assert.equal(claims.client_id, provider.info.client_id);
    assert.ok([].concat(claims.aud).includes(server.mcpUrl), `aud ${claims.aud} lacks ${server.mcpUrl}`);

    const client = new Client({ name: 'mcpgate-e2e-proxy-oauth', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: provider, fetch: recordingFetch(requests) }),
    );
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'echo'), tools.map((t) => t.name).join(', '));
      const result = await client.callTool({ name: 'echo', arguments: { message: 'after OAuth' } });
      assert.equal(result.content.find((c) => c.type === 'text')?.text, 'Echo: after OAuth');
    } finally {
      await client.close();
    }
    assert.equal(provider.authorizationUrls.length, 1, 'asked for consent again');
  });
});
