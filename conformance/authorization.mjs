// Runs the official conformance suite's authorization-server scenarios
// (`conformance authorization`: authorization-server-metadata-endpoint, then
// authorization-code-grant, in one run so the second uses the metadata the
// first fetched) against the authorization server of `mcpgate dev`.
//
//   node authorization.mjs MCPGATE_BIN RESULTS_DIR OUTPUT_FILE
//
// Needs Node >= 22.19 (run.sh puts the pinned one first on PATH). Exits with
// the suite's exit code (non-zero when a check failed); run.sh then compares
// the per-check results with expected-authorization.txt.
//
// What happens, all on 127.0.0.1:
//  1. `mcpgate dev --ephemeral --port 0 --auth-port 0` starts; its banner gives
//     the issuer ("Authorization server:") and the MCP URL (the RFC 8707
//     resource the token is for).
//  2. A public client (token_endpoint_auth_method `none`, PKCE) is registered
//     through the dev server's dynamic client registration, with the suite's
//     callback `http://127.0.0.1:<port>/callback` as its redirect URI. The
//     suite's grant scenario needs a pre-registered `--client-id`; it does not
//     register clients itself.
//  3. The suite prints the authorization URL and waits for the redirect. The
//     consent page is answered like a browser submits it (GET the page, POST
//     its form with the Approve button: e2e/lib/consent.mjs), and the redirect
//     it answers with is followed to the suite's callback server.
//  4. The suite exchanges the code at the token endpoint and checks the result.
//
// What the suite sends (0.2.0-alpha.12, dist/index.js): an authorization
// request with response_type=code, client_id, state, redirect_uri, PKCE
// (S256) and `resource` (from --resource: the MCP URL, so the token is for
// that server, RFC 8707), no scope; then a token request with client_id and no
// secret (method `none`). It validates the redirect (origin and path, one
// state and code, RFC 9207 `iss` equal to the metadata's issuer when present,
// no error) and the token response (200, JSON, Cache-Control: no-store,
// access_token and token_type). It never uses a client ID metadata document.
// Nothing about the dev server is relaxed for this: the client, redirect URI
// and consent go through the same rules as any other client's.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { answerConsent } from '../e2e/lib/consent.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const [mcpgateBin, resultsDir, outputFile] = process.argv.slice(2);
if (!mcpgateBin || !resultsDir || !outputFile) {
  console.error('usage: node authorization.mjs MCPGATE_BIN RESULTS_DIR OUTPUT_FILE');
  process.exit(2);
}

/** A free loopback port, chosen by the kernel (the suite's callback server binds it next). */
async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** Starts `mcpgate dev` and resolves with its banner fields once it printed them. */
async function startDev(logPrefix) {
  const child = spawn(mcpgateBin, ['dev', '--ephemeral', '--port', '0', '--auth-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const stderr = createWriteStream(`${logPrefix}.stderr.log`);
  child.stderr.pipe(stderr);
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
  // Keep draining stdout so the server never blocks on a full pipe.
  child.stdout.resume();
  for (const name of ['Authorization server', 'MCP URL']) {
    if (!fields[name]) throw new Error(`mcpgate dev printed no "${name}:" line`);
  }
  return { child, issuer: fields['Authorization server'], mcpUrl: fields['MCP URL'] };
}

/** RFC 8414 metadata of an issuer with a path (the dev server's issuers are per resource). */
async function metadata(issuer) {
  const u = new URL(issuer);
  const url = `${u.origin}/.well-known/oauth-authorization-server${u.pathname.replace(/\/$/, '')}`;
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function registerClient(registrationEndpoint, redirectUri) {
  const res = await fetch(registrationEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'MCP conformance suite',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    }),
  });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`client registration answered ${res.status}: ${body}`);
  return JSON.parse(body).client_id;
}

/**
 * Approves the consent page of `authorizationUrl` and delivers the redirect to
 * the suite's callback server, as the browser would.
 */
async function consentAndRedirect(authorizationUrl, callback) {
  const { location } = await answerConsent(authorizationUrl, 'Approve');
  if (`${location.origin}${location.pathname}` !== callback) {
    throw new Error(`the consent redirect goes to ${location}, not to the suite's callback ${callback}`);
  }
  const res = await fetch(location);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`the suite's callback answered ${res.status}: ${text}`);
}

async function main() {
  mkdirSync(dirname(outputFile), { recursive: true });
  const out = createWriteStream(outputFile);
  const dev = await startDev(join(dirname(outputFile), 'mcpgate-dev'));
  let suite;
  try {
    const meta = await metadata(dev.issuer);
    if (!meta.registration_endpoint) throw new Error('the dev authorization server advertises no registration_endpoint');
    const port = await freePort();
    const callback = `http://127.0.0.1:${port}/callback`;
    const clientId = await registerClient(meta.registration_endpoint, callback);

    const args = [
      'authorization',
      '--url', dev.issuer,
      '--client-id', clientId,
      '--resource', dev.mcpUrl,
      '--port', String(port),
      '--output-dir', resultsDir,
    ];
    suite = spawn(join(here, 'node_modules', '.bin', 'conformance'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    suite.stderr.pipe(out, { end: false });
    const exit = once(suite, 'exit');

    // The authorization URL is the one line of the output that starts with the
    // authorization endpoint; answer it once, and fail the run if that fails.
    let consent = Promise.resolve();
    let consentError;
    let answered = false;
    for await (const line of createInterface({ input: suite.stdout })) {
      out.write(`${line}\n`);
      if (!answered && line.startsWith(`${meta.authorization_endpoint}?`)) {
        answered = true;
        consent = consentAndRedirect(line.trim(), callback).catch((err) => {
          consentError = err;
          out.write(`consent step failed: ${err.message}\n`);
          // The suite would otherwise wait minutes for a callback that never comes.
          suite.kill('SIGTERM');
        });
      }
    }
    const [code, signal] = await exit;
    await consent;
    if (consentError) throw consentError;
    if (!answered) throw new Error(`the suite printed no authorization URL (output in ${outputFile})`);
    return signal ? 1 : code;
  } finally {
    if (suite && suite.exitCode === null) suite.kill('SIGTERM');
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
    console.error(`authorization conformance run failed: ${err.stack || err}`);
    try {
      console.error(readFileSync(outputFile, 'utf8').slice(-4000));
    } catch {}
    process.exit(1);
  },
);
