// Runs the official conformance suite's server scenarios against the
// conformance-server fixture served over STDIO behind the gateway
// (`mcpgate dev -- conformance-server --stdio`), so run.sh can compare the
// result with the direct run's expected file.
//
//   node gateway.mjs MCPGATE_BIN FIXTURE_BIN REVISION RESULTS_DIR OUTPUT_FILE
//
// Needs Node >= 22.19 (run.sh puts the pinned one first on PATH). Exits with
// the suite's exit code.
//
// Auth. The gateway requires a bearer token on every MCP request, and the
// suite (0.2.0-alpha.12, `conformance server`) has no option to send a header.
// Nothing in the gateway is relaxed for it: a token is minted by `mcpgate dev`
// (its banner's `Token:` line, a real token from its authorization server) and
// a small loopback forwarder here adds `Authorization: Bearer <token>` to every
// request the suite sends, and changes nothing else except the Host and Origin
// headers when they name the forwarder itself (they are rewritten to the
// gateway's own, as if the suite had connected to the gateway directly: the
// gateway's allow-list is its MCP URL's authority). Any other Host or Origin — the dns-rebinding-protection scenario's evil ones
// — reaches the gateway unchanged, so that scenario still tests the gateway's
// own Host/Origin checks. Responses (JSON or SSE streams) are piped back as
// they arrive.
//
// What happens, all on 127.0.0.1:
//  1. `mcpgate dev --ephemeral --port 0 --auth-port 0 -- FIXTURE --stdio`
//     starts; its banner gives the MCP URL and a token.
//  2. The forwarder listens on a kernel-chosen port.
//  3. `conformance server --url http://127.0.0.1:<forwarder>/mcp
//     --requirements REVISION` runs against it.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [mcpgateBin, fixtureBin, revision, resultsDir, outputFile] = process.argv.slice(2);
if (!mcpgateBin || !fixtureBin || !revision || !resultsDir || !outputFile) {
  console.error('usage: node gateway.mjs MCPGATE_BIN FIXTURE_BIN REVISION RESULTS_DIR OUTPUT_FILE');
  process.exit(2);
}

/** Starts `mcpgate dev -- FIXTURE --stdio` and resolves with its banner fields. */
async function startDev(logPrefix) {
  const args = ['dev', '--ephemeral', '--port', '0', '--auth-port', '0', '--', fixtureBin, '--stdio'];
  const child = spawn(mcpgateBin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  child.stderr.pipe(createWriteStream(`${logPrefix}.stderr.log`));
  const fields = {};
  const lines = createInterface({ input: child.stdout });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`mcpgate dev exited with ${code} before printing its banner (see ${logPrefix}.stderr.log)`);
  });
  const banner = (async () => {
    for await (const line of lines) {
      const m = /^([A-Za-z][A-Za-z ]*): (\S.*)$/.exec(line);
      if (m && !(m[1] in fields)) fields[m[1]] = m[2].trim();
      if ('Token' in fields) return fields;
    }
    throw new Error('mcpgate dev closed its output before printing its banner');
  })();
  await Promise.race([banner, exited]);
  // Keep draining stdout so the gateway never blocks on a full pipe.
  child.stdout.resume();
  if (!fields['MCP URL']) throw new Error('mcpgate dev printed no "MCP URL:" line');
  return { child, mcpUrl: new URL(fields['MCP URL']), token: fields.Token };
}

/** The forwarder: adds the bearer token, keeps everything else (see the header). */
async function startForwarder(target, token) {
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers, authorization: `Bearer ${token}` };
    const own = `localhost:${server.address().port}`;
    const own4 = `127.0.0.1:${server.address().port}`;
    if (headers.host === own || headers.host === own4) headers.host = target.host;
    if (headers.origin === `http://${own}` || headers.origin === `http://${own4}`) headers.origin = target.origin;
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`forwarder: ${err.message}`);
    });
    // The suite closing an SSE stream must close the gateway's stream too.
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function main() {
  mkdirSync(dirname(outputFile), { recursive: true });
  const out = createWriteStream(outputFile);
  const dev = await startDev(join(dirname(outputFile), 'mcpgate-dev'));
  let suite;
  let forwarder;
  try {
    forwarder = await startForwarder(dev.mcpUrl, dev.token);
    const url = `http://127.0.0.1:${forwarder.address().port}${dev.mcpUrl.pathname}`;
    const args = ['server', '--url', url, '--requirements', revision, '--output-dir', resultsDir];
    suite = spawn(join(here, 'node_modules', '.bin', 'conformance'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    suite.stdout.pipe(out, { end: false });
    suite.stderr.pipe(out, { end: false });
    const [[code, signal]] = await Promise.all([once(suite, 'exit'), once(suite.stdout, 'end')]);
    return signal ? 1 : code;
  } finally {
    if (suite && suite.exitCode === null) suite.kill('SIGTERM');
    forwarder?.closeAllConnections();
    forwarder?.close();
    if (dev.child.exitCode === null && dev.child.signalCode === null) {
      const stopped = once(dev.child, 'exit');
      dev.child.kill('SIGINT');
      await stopped;
    }
    out.end();
    await once(out, 'close');
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`gateway conformance run failed: ${err.stack || err}`);
    try {
      console.error(readFileSync(outputFile, 'utf8').slice(-4000));
    } catch {}
    process.exit(1);
  },
);
