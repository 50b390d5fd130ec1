// `mcpgate dev -- COMMAND`: the gateway in front of the official
// `@modelcontextprotocol/server-everything` over stdio (pinned in
// package-lock.json), called by the official TypeScript SDK with the token
// `mcpgate dev` printed. Tools pass through, and so do the upstream's progress
// notifications and its sampling and elicitation requests (answered by this
// client).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import { startDevServer } from '../lib/dev-server.mjs';

const require = createRequire(import.meta.url);
const EVERYTHING = join(
  dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
  'dist',
  'index.js',
);

function text(result) {
  return result.content
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('');
}

describe('gateway in front of server-everything (stdio)', () => {
  let server;
  let client;
  let sampled = 0;
  const elicited = [];

  before(async () => {
    server = await startDevServer({ args: ['--', process.execPath, EVERYTHING, 'stdio'] });
    const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), {
      requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
    });
    client = new Client(
      { name: 'mcpgate-e2e-proxy', version: '1.0.0' },
      { capabilities: { sampling: {}, elicitation: {} } },
    );
    client.setRequestHandler(CreateMessageRequestSchema, async () => {
      sampled += 1;
      return { model: 'e2e-model', role: 'assistant', content: { type: 'text', text: 'sampled by the client' } };
    });
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      elicited.push(request.params.message);
      return { action: 'accept', content: { name: 'Ada Lovelace', check: true } };
    });
    await client.connect(transport);
  });

  after(async () => {
    await client?.close().catch(() => {});
    await server?.stop();
  });

  test('tools are listed and called through the gateway', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    assert.ok(names.includes('echo'), names.join(', '));
    assert.ok(names.includes('get-sum'), names.join(', '));
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'hi' } })), 'Echo: hi');
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
    assert.match(text(sum), /5/);
  });

  test('progress notifications reach the caller', async () => {
    const seen = [];
    const result = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
      undefined,
      { onprogress: (p) => seen.push(p), timeout: 30_000 },
    );
    assert.match(text(result), /completed/);
    assert.deepEqual(
      seen.map((p) => p.progress),
      [1, 2],
      JSON.stringify(seen),
    );
  });

  test("the upstream's sampling request is answered by the client", async () => {
    const result = await client.callTool(
      { name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 10 } },
      undefined,
      { timeout: 30_000 },
    );
    assert.equal(sampled, 1);
    assert.match(text(result), /sampled by the client/);
  });

  test("the upstream's elicitation request is answered by the client", async () => {
    const result = await client.callTool(
      { name: 'trigger-elicitation-request', arguments: {} },
      undefined,
      { timeout: 30_000 },
    );
    assert.equal(elicited.length, 1, JSON.stringify(result));
    assert.match(text(result), /Name: Ada Lovelace/);
  });

  test('without a token the gateway answers 401', async () => {
    const response = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer /);
  });
});
