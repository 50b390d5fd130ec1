// Step-up authorization with the official MCP TypeScript SDK and a real browser
// (issue 12): a client holding `openid mcp:tools` calls `add_todo`, which needs
// `todo:write`; the server answers HTTP 403 with
// `WWW-Authenticate: Bearer error="insufficient_scope", scope="openid mcp:tools todo:write"`;
// the SDK re-authorizes at the dev authorization server for exactly that union
// (consent in Chromium), and the retried call succeeds.
//
// The server is `target/debug/examples/step_up` (crates/mcpgate/examples/step_up.rs):
// the dev authorization server `mcpgate dev` runs, next to a Todos server whose
// `add_todo` requires `todo:write` (STEP_UP_BIN names another binary).
//
// How SDK 1.32.2 steps up (client/streamableHttp.js, `send`): on a 403 whose
// challenge says `insufficient_scope` it takes the challenge's `scope` and
// `resource_metadata` and calls `auth()` with that scope. With no refresh token
// `auth()` starts a new authorization request for that scope and hands it to
// the provider's `redirectToAuthorization` (the browser); the transport then
// throws `UnauthorizedError`, and the application completes with
// `transport.finishAuth(code)` and retries, as after a first 401. (Holding a
// refresh token, `auth()` refreshes instead, which cannot widen the grant; the
// retry then meets the same challenge and the SDK gives up with "Server
// returned 403 after trying upscoping". The example offers no `offline_access`.)

import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { chromium } from 'playwright-core';

import { REPO_ROOT, jwtClaims, unusedPort } from '../lib/dev-server.mjs';

const BIN = process.env.STEP_UP_BIN || join(REPO_ROOT, 'target', 'debug', 'examples', 'step_up');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const START_TIMEOUT_MS = 30_000;

/** Starts the example and reads the lines it prints (as `mcpgate dev` prints them). */
async function startStepUpServer() {
  if (!existsSync(BIN)) {
    throw new Error(`${BIN} does not exist: run \`cargo build -p mcpgate --example step_up\` first, or set STEP_UP_BIN`);
  }
  const child = spawn(BIN, [], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  process.once('exit', () => child.kill('SIGKILL'));
  const fields = {};
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`step_up printed no Token line in time\n${stderr}`)), START_TIMEOUT_MS);
      exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`step_up exited (${code}) before it was ready\n${stderr}`));
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        const m = /^([A-Za-z ]+): (.+)$/.exec(line);
        if (!m) return;
        fields[m[1]] = m[2].trim();
        if (m[1] === 'Token') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  child.stdout.resume();
  return { mcpUrl: fields['MCP URL'], envUrl: fields['Environment URL'], resourceId: fields['Resource ID'], stop, stderr: () => stderr };
}

function requireChromium() {
  try {
    if (!statSync(CHROMIUM).isFile()) throw new Error('not a file');
    accessSync(CHROMIUM, fsConstants.X_OK);
  } catch (e) {
    assert.fail(
      `Chromium ${CHROMIUM} is not usable (${e.code ?? e.message}); install Debian's chromium ` +
        '(as root: apt-get update && apt-get install -y chromium) or set CHROMIUM_PATH.',
    );
  }
}

/**
 * An in-memory `OAuthClientProvider` whose `redirectToAuthorization` is a person
 * in Chromium on the consent page: it leaves unticked the scopes in `withhold`
 * (the consent page lets the user grant a subset), presses Approve and keeps
 * the code the redirect carries.
 */
class BrowserOAuthProvider {
  constructor(redirectUrl, context) {
    this._redirectUrl = redirectUrl;
    this._context = context;
    this._clientInformation = undefined;
    this._tokens = undefined;
    this._codeVerifier = undefined;
    this.withhold = [];
    this.authorizationUrls = [];
    this.consents = [];
    this.codes = [];
  }

  get redirectUrl() {
    return this._redirectUrl;
  }

  get clientMetadata() {
    return {
      client_name: 'mcpgate e2e step-up (TypeScript SDK)',
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
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
  }

  saveCodeVerifier(codeVerifier) {
    this._codeVerifier = codeVerifier;
  }

  codeVerifier() {
    if (!this._codeVerifier) throw new Error('no code verifier saved');
    return this._codeVerifier;
  }

  async redirectToAuthorization(authorizationUrl) {
    const url = new URL(authorizationUrl);
    this.authorizationUrls.push(url);
    const page = await this._context.newPage();
    try {
      let resolve;
      const captured = new Promise((r) => {
        resolve = r;
      });
      // Nothing listens at the redirect URI: answer it in the browser.
      await page.route(
        (u) => u.href.startsWith(this._redirectUrl),
        async (route) => {
          resolve(new URL(route.request().url()));
          await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Done</title>' });
        },
      );
      const response = await page.goto(url.href);
      assert.equal(response.status(), 200, `consent page: ${await response.text()}`);
      const offered = await page.$$eval('input[type=checkbox]', (boxes) => boxes.map((b) => b.value));
      for (const scope of this.withhold) await page.uncheck(`input[type=checkbox][value="${scope}"]`);
      this.consents.push({ offered, withheld: [...this.withhold] });
      await page.getByRole('button', { name: 'Approve' }).click();
      const location = await captured;
      assert.equal(location.searchParams.get('error'), null, location.href);
      this.codes.push(location.searchParams.get('code'));
    } finally {
      await page.close();
    }
  }
}

function textOf(result) {
  return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
}

describe('403 step-up with the TypeScript SDK and Chromium', () => {
  let server;
  let context;
  let profileDir;

  before(async () => {
    requireChromium();
    server = await startStepUpServer();
    profileDir = mkdtempSync(join(tmpdir(), 'mcpgate-e2e-stepup-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
    });
  });

  after(async () => {
    await context?.close();
    await server?.stop();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  test('mcp:tools only → add_todo 403 insufficient_scope → re-consent for the union → retry succeeds', async () => {
    const redirectUrl = `http://127.0.0.1:${await unusedPort()}/callback`;
    const provider = new BrowserOAuthProvider(redirectUrl, context);
    const responses = [];
    const recordingFetch = async (input, init) => {
      const response = await fetch(input, init);
      responses.push({ url: String(input instanceof Request ? input.url : input), status: response.status, www: response.headers.get('www-authenticate') });
      return response;
    };
    const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: provider, fetch: recordingFetch });
    const client = new Client({ name: 'mcpgate-e2e-step-up', version: '1.0.0' });

    // 1. First authorization: the user grants everything but todo:write.
    provider.withhold = ['todo:write'];
    await assert.rejects(client.connect(transport), UnauthorizedError);
    assert.equal(provider.codes.length, 1);
    assert.ok(provider.consents[0].offered.includes('todo:write'), `consent offered ${provider.consents[0].offered}`);
    await transport.finishAuth(provider.codes[0]);
    const first = jwtClaims(provider.tokens().access_token);
    assert.deepEqual(first.scope.split(' ').sort(), ['mcp:tools', 'openid']);

    const transport2 = new StreamableHTTPClientTransport(new URL(server.mcpUrl), { authProvider: provider, fetch: recordingFetch });
    await client.connect(transport2);
    const { tools } = await client.listTools();
    assert.deepEqual(
      tools.map((t) => t.name),
      ['list_todos'],
      'the list shows only what the token may use',
    );
    assert.equal(textOf(await client.callTool({ name: 'list_todos', arguments: {} })), '1. try step-up');

    // 2. The call needing todo:write: 403 with the union; the SDK asks for it.
    provider.withhold = [];
    const mark = responses.length;
    await assert.rejects(client.callTool({ name: 'add_todo', arguments: {} }), UnauthorizedError);
    const refused = responses.slice(mark).find((r) => r.status === 403);
    assert.ok(refused, `no 403 among ${JSON.stringify(responses.slice(mark))}`);
    assert.equal(
      refused.www,
      `Bearer error="insufficient_scope", error_description="this resource requires scope: openid mcp:tools todo:write", ` +
        `scope="openid mcp:tools todo:write", resource_metadata="${new URL(server.mcpUrl).origin}/.well-known/oauth-protected-resource/mcp"`,
    );
    assert.equal(provider.authorizationUrls.length, 2, 'the SDK started a second authorization');
    assert.equal(provider.authorizationUrls[1].searchParams.get('scope'), 'openid mcp:tools todo:write');
    assert.equal(provider.authorizationUrls[1].searchParams.get('resource'), server.mcpUrl);
    assert.equal(provider.consents.length, 2, 'a second consent in the browser');

    // 3. The application completes the authorization and retries: it works.
    await transport2.finishAuth(provider.codes[1]);
    const upgraded = jwtClaims(provider.tokens().access_token);
    assert.deepEqual(upgraded.scope.split(' ').sort(), ['mcp:tools', 'openid', 'todo:write']);
    assert.equal(upgraded.sub, first.sub);
    const result = await client.callTool({ name: 'add_todo', arguments: {} });
    assert.notEqual(result.isError, true, JSON.stringify(result));
    assert.equal(textOf(result), 'added, with scopes: openid mcp:tools todo:write');
    const { tools: all } = await client.listTools();
    assert.deepEqual(all.map((t) => t.name).sort(), ['add_todo', 'list_todos']);
    await client.close();
  });
});
