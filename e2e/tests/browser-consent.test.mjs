// A real browser (Debian's Chromium, driven by playwright-core) on the dev
// authorization server's consent page: what a person sees, and what pressing
// Approve or Deny sends back to the application.

import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { REPO_ROOT, jwtClaims, startDevServer, unusedPort } from '../lib/dev-server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'target', 'e2e-artifacts');
const CLIENT_NAME = 'Acme Notes (e2e)';
const SCOPES = ['openid', 'mcp:tools', 'offline_access'];

/**
 * Fails (never skips) when there is no Chromium to drive, however the test was
 * started (`bash e2e/run.sh` installs it first; `node --test` does not), so a
 * missing browser can never pass as a green run.
 */
function requireChromium() {
  let problem;
  try {
    if (!statSync(CHROMIUM).isFile()) problem = 'is not a file';
    else accessSync(CHROMIUM, fsConstants.X_OK);
  } catch (e) {
    problem = e.code === 'ENOENT' ? 'does not exist' : `is not usable (${e.code ?? e.message})`;
  }
  if (problem) {
    assert.fail(
      `Chromium ${CHROMIUM} ${problem}, so the consent page cannot be tested. Install Debian's chromium ` +
        `(as root: apt-get update && apt-get install -y chromium; \`bash e2e/run.sh\` does this itself when ` +
        `run as root) or point CHROMIUM_PATH at a Chromium executable.`,
    );
  }
}

function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

async function register(server, redirectUri) {
  const response = await fetch(`${server.envUrl}/api/v1/resources/${server.resourceId}/clients:register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: CLIENT_NAME,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: SCOPES.join(' '),
    }),
  });
  const body = await response.json();
  assert.equal(response.status, 201, JSON.stringify(body));
  assert.match(body.client_id, /^m2m_\d+$/);
  return body;
}

function authorizeUrl(server, clientId, redirectUri, challenge, state) {
  const url = new URL(`${server.envUrl}/oauth/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: SCOPES.join(' '),
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: server.mcpUrl,
  }).toString();
  return url;
}

/**
 * Answers requests to the redirect URI in the browser (nothing listens there)
 * and resolves with the first such URL, i.e. where the consent page sent us.
 */
async function captureRedirect(page, redirectUri) {
  let resolve;
  const captured = new Promise((r) => {
    resolve = r;
  });
  await page.route(
    (url) => url.href.startsWith(redirectUri),
    async (route) => {
      resolve(new URL(route.request().url()));
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Signed in</title><p>You can close this window.</p>' });
    },
  );
  return captured;
}

test('Chromium is installed', () => {
  requireChromium();
});

describe('consent page in Chromium', () => {
  let server;
  let context;
  let profileDir;
  let redirectUri;

  before(async () => {
    requireChromium();
    server = await startDevServer();
    redirectUri = `http://127.0.0.1:${await unusedPort()}/callback`;
    profileDir = mkdtempSync(join(tmpdir(), 'mcpgate-e2e-chromium-'));
    // A persistent context is how playwright takes a user data dir of our choosing.
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 900, height: 1000 },
      deviceScaleFactor: 1,
      colorScheme: 'light',
    });
  });

  after(async () => {
    await context?.close();
    await server?.stop();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  /** Registers a client, opens its authorization request in a new tab. */
  async function openConsent() {
    const client = await register(server, redirectUri);
    const { verifier, challenge } = pkcePair();
    const state = randomBytes(16).toString('base64url');
    const page = await context.newPage();
    const redirected = captureRedirect(page, redirectUri);
    const response = await page.goto(authorizeUrl(server, client.client_id, redirectUri, challenge, state).href);
    assert.equal(response.status(), 200, await response.text());
    return { client, verifier, state, page, redirected };
  }

  /**
   * Presses `button` and returns the URL the browser was sent to. Fails with what
   * the server answered (and the Origin the browser sent) if the form post does
   * not redirect.
   */
  async function decide(page, redirected, button) {
    const decisionResponse = page.waitForResponse((r) => new URL(r.url()).pathname === '/oauth/authorize/decision');
    await page.getByRole('button', { name: button }).click();
    const response = await decisionResponse;
    if (response.status() !== 303) {
      const sent = await response.request().allHeaders();
      const shown = (await page.locator('body').innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
      assert.fail(
        `pressing ${button} in Chromium: POST /oauth/authorize/decision answered ${response.status()} ` +
          `instead of 303 to the redirect URI; the browser sent Origin: ${sent.origin ?? '(none)'}; page: "${shown}"`,
      );
    }
    const callback = await redirected;
    await page.waitForURL((url) => url.href.startsWith(redirectUri));
    assert.equal(`${callback.origin}${callback.pathname}`, redirectUri);
    return callback;
  }

  test('the consent page names the client, where it returns to, and the scopes', async (t) => {
    const { client, page } = await openConsent();
    assert.equal(await page.title(), `Authorize ${CLIENT_NAME}`);
    const text = await page.locator('body').innerText();
    assert.ok(text.includes(CLIENT_NAME), `client name missing:\n${text}`);
    assert.ok(text.includes(client.client_id), `client id missing:\n${text}`);
    assert.ok(text.includes(new URL(redirectUri).host), `redirect host ${new URL(redirectUri).host} missing:\n${text}`);
    assert.ok(text.includes(server.mcpUrl), `MCP server URL missing:\n${text}`);
    assert.deepEqual(await page.locator('li .scope').allInnerTexts(), SCOPES);
    assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Deny' }).count(), 1);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'consent.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`consent screenshot: ${shot}`);
    await page.close();
  });

  test('Approve sends a code and the state back; the code redeems to a token the MCP server accepts', async () => {
    const { client, verifier, state, page, redirected } = await openConsent();
    const callback = await decide(page, redirected, 'Approve');
    await page.close();
    assert.equal(callback.searchParams.get('error'), null, callback.href);
    const code = callback.searchParams.get('code');
    assert.ok(code, `no code in ${callback.href}`);
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('iss'), `${server.envUrl}/resources/${server.resourceId}`);

    // The application redeems the code with its verifier.
    const redeem = () =>
      fetch(`${server.envUrl}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri,
          code_verifier: verifier,
          client_id: client.client_id,
          resource: server.mcpUrl,
        }),
      });
    const tokenResponse = await redeem();
    const tokens = await tokenResponse.json();
    assert.equal(tokenResponse.status, 200, JSON.stringify(tokens));
    assert.equal(tokens.token_type, 'Bearer');
    assert.ok(tokens.refresh_token, 'offline_access was granted, so a refresh token must be issued');
    assert.deepEqual(tokens.scope.split(' '), SCOPES);
    const claims = jwtClaims(tokens.access_token);
    assert.equal(claims.client_id, client.client_id);
    assert.match(claims.sub, /^usr_\d+$/);

    // And uses the access token at the MCP server.
    const init = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokens.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'mcpgate-e2e-browser', version: '1.0.0' } },
      }),
    });
    const initBody = await init.text();
    assert.equal(init.status, 200, initBody);
    assert.ok(initBody.includes('"serverInfo"'), initBody);

    // The code is single-use.
    const replay = await redeem();
    assert.equal(replay.status, 400);
    assert.equal((await replay.json()).error, 'invalid_grant');
  });

  test('Deny sends access_denied and the state back', async () => {
    const { state, page, redirected } = await openConsent();
    const callback = await decide(page, redirected, 'Deny');
    await page.close();
    assert.equal(callback.searchParams.get('error'), 'access_denied', callback.href);
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('code'), null);
  });
});
