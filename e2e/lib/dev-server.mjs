// Starts `mcpgate dev --ephemeral --port 0 --auth-port 0` as a child process and
// reads the connection details it prints on stdout.
//
// The binary is `target/debug/mcpgate` of this repository unless MCPGATE_BIN
// names another one. Every server started here is stopped with SIGINT when the
// test calls stop(), and killed outright if this process exits first.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_BIN = fileURLToPath(new URL('../../target/debug/mcpgate', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * @param {{ args?: string[] }} [options] extra flags for `mcpgate dev`
 * @returns {Promise<{ mcpUrl: string, envUrl: string, resourceId: string, authServer: string,
 *   token: string, stderr: () => string, stop: () => Promise<void> }>}
 */
export async function startDevServer(options = {}) {
  const bin = process.env.MCPGATE_BIN || DEFAULT_BIN;
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: run \`cargo build -p mcpgate-cli\` first, or set MCPGATE_BIN`);
  }
  const args = ['dev', '--ephemeral', '--port', '0', '--auth-port', '0', ...(options.args ?? [])];
  const child = spawn(bin, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  running.add(child);

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => running.delete(child));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const fields = {};
  const lines = createInterface({ input: child.stdout });
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`mcpgate dev printed no Token line within ${START_TIMEOUT_MS} ms\n${stderr}`)),
        START_TIMEOUT_MS,
      );
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`mcpgate dev exited (code ${code}, signal ${signal}) before it was ready\n${stderr}`));
      });
      lines.on('line', (line) => {
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
  // Keep draining stdout so the child never blocks on a full pipe.
  child.stdout.resume();

  for (const key of ['MCP URL', 'Environment URL', 'Resource ID', 'Token']) {
    if (!fields[key]) {
      await stop();
      throw new Error(`mcpgate dev did not print "${key}:"`);
    }
  }
  return {
    mcpUrl: fields['MCP URL'],
    envUrl: fields['Environment URL'],
    resourceId: fields['Resource ID'],
    authServer: fields['Authorization server'],
    token: fields['Token'],
    stderr: () => stderr,
    stop,
  };
}

/** Decodes a JWT's payload without verifying it (the server under test verified it). */
export function jwtClaims(jwt) {
  const [, payload] = jwt.split('.');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

/** A loopback port nothing listens on (bound, read, released). */
export async function unusedPort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
