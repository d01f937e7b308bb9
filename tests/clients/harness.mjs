// Shared harness of the real-client suites: the textid binary on a free loopback port with
// its own data directory, a loopback SMS webhook receiver, CLI provisioning, and a small
// cookie-keeping HTTP user agent that fills in textid's server-rendered sign-in forms.
//
// No fixed ports (the OS picks them), no sleeps: every wait is for an event (a line printed,
// a webhook request arriving, a response). Timeouts only bound a failing test.

import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseHtml } from 'node-html-parser';

const execFileP = promisify(execFile);

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const textidBin = process.env.TEXTID_BIN
  ? path.resolve(process.env.TEXTID_BIN)
  : path.join(repoRoot, 'target/debug/textid');
export const artifactsDir = path.resolve(repoRoot, process.env.ARTIFACTS_DIR || 'artifacts');

/** How long a failing wait may block before the test fails (never a timing assumption). */
export const WAIT_MS = 30_000;

/** Rejects after `ms` with a message naming what was awaited. */
export function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A free loopback TCP port, chosen by the OS (listen on 0, read it, close). */
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Listens on a free loopback port; returns the port. */
export async function listenLoopback(server) {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server.address().port;
}

export async function closeServer(server) {
  server.closeAllConnections?.();
  await new Promise((resolve) => server.close(() => resolve()));
}

// ---------------------------------------------------------------------------------------
// SMS webhook receiver

/**
 * A loopback HTTP server standing in for the SMS gateway: records every message textid
 * POSTs and answers 200. `next(to)` resolves with the next message for a number (E.164),
 * whether it arrived before or after the call.
 */
export async function startWebhookReceiver() {
  const queues = new Map(); // to -> [message]
  const waiters = new Map(); // to -> [resolve]
  const all = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/sms') {
        res.writeHead(404).end();
        return;
      }
      let msg;
      try {
        msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400).end();
        return;
      }
      msg.headers = req.headers;
      all.push(msg);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      const w = waiters.get(msg.to);
      if (w && w.length) w.shift()(msg);
      else {
        if (!queues.has(msg.to)) queues.set(msg.to, []);
        queues.get(msg.to).push(msg);
      }
    });
  });
  const port = await listenLoopback(server);
  return {
    url: `http://127.0.0.1:${port}/sms`,
    messages: all,
    next(to) {
      const q = queues.get(to);
      if (q && q.length) return Promise.resolve(q.shift());
      const p = new Promise((resolve) => {
        if (!waiters.has(to)) waiters.set(to, []);
        waiters.get(to).push(resolve);
      });
      return within(p, `an SMS to ${to} at the webhook receiver`);
    },
    /** Messages not yet taken by next(). */
    pending(to) {
      return (queues.get(to) || []).length;
    },
    close: () => closeServer(server),
  };
}

/** The code on the last line of an SMS body (`@127.0.0.1 #123456`), checked for shape. */
export function codeOf(msg, host = '127.0.0.1') {
  const lines = String(msg.body).trimEnd().split('\n');
  const last = lines[lines.length - 1];
  const m = /^@(\S+) #(\d{6,})$/.exec(last);
  if (!m) throw new Error(`the SMS does not end with "@host #code": ${JSON.stringify(msg.body)}`);
  if (m[1] !== host) throw new Error(`the SMS is bound to ${m[1]}, expected ${host}: ${last}`);
  return m[2];
}

// ---------------------------------------------------------------------------------------
// The textid binary

/** Runs a CLI command with `--json` against a data directory; returns the parsed JSON. */
export async function cli(dataDir, args) {
  const env = { ...process.env };
  delete env.RUST_LOG;
  try {
    const { stdout } = await execFileP(textidBin, ['--data-dir', dataDir, ...args, '--json'], {
      env,
      maxBuffer: 16 << 20,
    });
    return stdout.trim() ? JSON.parse(stdout) : null;
  } catch (e) {
    throw new Error(
      `textid ${args.join(' ')} failed (exit ${e.code}):\n${e.stderr || ''}${e.stdout || ''}`,
    );
  }
}

/** A fresh data directory under the OS temp dir. */
export function tempDataDir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `textid-${name}-`));
}

/**
 * Starts `textid serve` on a free port with public URL = issuer origin, delivering SMS to
 * `webhookUrl`; resolves once it prints `textid listening on http://127.0.0.1:PORT`.
 * Its stdout and stderr go to `${artifactsDir}/logs/${name}-textid.log`.
 */
export async function startTextid({ name, dataDir, webhookUrl, env = {} }) {
  if (!fs.existsSync(textidBin)) {
    throw new Error(`${textidBin} is missing: run cargo build --locked -p textid first`);
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  fs.mkdirSync(path.join(artifactsDir, 'logs'), { recursive: true });
  const logPath = path.join(artifactsDir, 'logs', `${name}-textid.log`);
  const log = fs.createWriteStream(logPath);
  const childEnv = {
    ...process.env,
    TEXTID_SMS_PROVIDER: 'webhook',
    TEXTID_SMS_WEBHOOK_URL: webhookUrl,
    ...env,
  };
  delete childEnv.TEXTID_LISTEN;
  delete childEnv.TEXTID_PUBLIC_URL;
  delete childEnv.TEXTID_DATA_DIR;
  const child = spawn(
    textidBin,
    ['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`, '--public-url', base],
    { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr.pipe(log, { end: false });
  // 'close': the process has exited and its stdout and stderr are drained (so the log can end)
  const exited = once(child, 'close');
  const listening = new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk) => {
      log.write(chunk);
      buf += chunk.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        const m = /^textid listening on (http:\/\/\S+)$/.exec(line);
        if (m) {
          resolve(m[1]);
        }
      }
    };
    child.stdout.on('data', onData);
    exited.then(([code, signal]) =>
      reject(
        new Error(`textid serve exited (${code ?? signal}) before listening; see ${logPath}`),
      ),
    );
  });
  let printed;
  try {
    printed = await within(listening, `"textid listening on" from textid serve (log: ${logPath})`);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  if (printed !== base) throw new Error(`textid printed ${printed}, expected ${base}`);
  return {
    base,
    port,
    issuer: `${base}/default/v2.0`,
    logPath,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await within(exited, 'textid serve to exit after SIGTERM').catch(() => child.kill('SIGKILL'));
      }
      log.end();
    },
  };
}

/** Creates a user with a ready SMS sign-in number; returns the user's JSON. */
export async function createPhoneUser(dataDir, { upn, displayName, number }) {
  const user = await cli(dataDir, ['user', 'create', '--upn', upn, '--display-name', displayName]);
  const phone = await cli(dataDir, ['phone', 'add', upn, '--number', number]);
  if (phone.smsSignInState !== 'ready') {
    throw new Error(`phone add ${upn} ${number}: smsSignInState ${phone.smsSignInState}`);
  }
  return user;
}

/** `textid client create`; returns its JSON (`clientId`, `clientSecret` if confidential, ...). */
export async function createClient(
  dataDir,
  { name, type, redirectUri, postLogoutRedirectUri, alg, grants = ['authorization_code', 'refresh_token'] },
) {
  const args = ['client', 'create', '--name', name, '--type', type, '--redirect-uri', redirectUri];
  if (postLogoutRedirectUri) args.push('--post-logout-redirect-uri', postLogoutRedirectUri);
  for (const g of grants) args.push('--grant', g);
  if (alg) args.push('--id-token-alg', alg);
  const client = await cli(dataDir, args);
  if (!client || typeof client.clientId !== 'string' || !client.clientId) {
    throw new Error(`client create returned no clientId: ${JSON.stringify(client)}`);
  }
  return client;
}

// ---------------------------------------------------------------------------------------
// A cookie-keeping HTTP user agent for the server-rendered pages (no JavaScript)

/** Decodes a JWT's header and payload without verifying (for assertions on the header). */
export function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  const dec = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: dec(h), payload: dec(p) };
}

const REDIRECT = new Set([301, 302, 303, 307, 308]);

export class UserAgent {
  /** `origin`: textid's origin; redirects elsewhere (the app's redirect URI) end a walk. */
  constructor(origin) {
    this.origin = origin;
    this.cookies = new Map(); // name -> value (one host, so no domain/path bookkeeping)
    this.trace = []; // "METHOD url -> status" lines, for failure messages
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  store(res) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v = ''] = a.trim().split('=');
        if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k.toLowerCase() === 'expires') return Date.parse(v) <= Date.now();
        return false;
      });
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** One request, no redirect following. Cookies only go to textid's origin. */
  async request(url, { method = 'GET', form } = {}) {
    url = new URL(url);
    const headers = { accept: 'text/html' };
    const sameOrigin = url.origin === this.origin;
    if (sameOrigin && this.cookies.size) headers.cookie = this.cookieHeader();
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = this.origin; // what a browser sends with a form POST
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    if (sameOrigin) this.store(res);
    const text = await res.text();
    this.trace.push(`${method} ${url.pathname}${url.search ? '?…' : ''} -> ${res.status}`);
    return { url, status: res.status, location: res.headers.get('location'), text, headers: res.headers };
  }

  /**
   * Sends a request and follows redirects while they stay on textid's origin. Returns
   * `{ kind: 'page', url, status, text }` for a page, or `{ kind: 'redirect', location }`
   * when textid sends the browser to another origin (the client's redirect URI).
   */
  async walk(url, opts) {
    let res = await this.request(url, opts);
    for (let hops = 0; REDIRECT.has(res.status); hops++) {
      if (!res.location) throw new Error(`${res.status} without Location from ${res.url}`);
      const next = new URL(res.location, res.url);
      if (next.origin !== this.origin) return { kind: 'redirect', location: next };
      if (hops > 10) throw new Error(`too many redirects: ${this.trace.join(', ')}`);
      res = await this.request(next);
    }
    return { kind: 'page', url: res.url, status: res.status, text: res.text };
  }

  /** Submits the form that has a field named `field`, with `values`, pressing `button`. */
  async submit(page, field, values, button) {
    const form = findForm(page, field);
    return this.walk(form.action, { method: form.method, form: form.fields(values, button) });
  }
}

/**
 * Finds the form containing an input named `field` on a page; describes it.
 * Throws with the page text when there is none (e.g. a 404 page).
 */
export function findForm(page, field) {
  const root = parseHtml(page.text);
  const input = root.querySelector(`input[name="${field}"]`);
  if (!input) {
    throw new Error(
      `no input named ${field} on ${page.url} (HTTP ${page.status}):\n${page.text.slice(0, 800)}`,
    );
  }
  let form = input.parentNode;
  while (form && form.tagName !== 'FORM') form = form.parentNode;
  if (!form) throw new Error(`the ${field} input on ${page.url} is not inside a form`);
  const method = (form.getAttribute('method') || 'get').toUpperCase();
  const action = new URL(form.getAttribute('action') || page.url, page.url);
  const label = labelOf(root, input);
  return {
    root,
    input,
    label,
    method,
    action,
    /** The fields a browser would send: the form's inputs, `values`, and the pressed button. */
    fields(values, buttonText) {
      const out = new URLSearchParams();
      for (const el of form.querySelectorAll('input, select, textarea')) {
        const name = el.getAttribute('name');
        const type = (el.getAttribute('type') || 'text').toLowerCase();
        if (!name || el.hasAttribute('disabled')) continue;
        if (['submit', 'button', 'image', 'reset'].includes(type)) continue;
        if ((type === 'checkbox' || type === 'radio') && !el.hasAttribute('checked')) continue;
        if (name in values) continue;
        out.append(name, el.getAttribute('value') ?? '');
      }
      for (const [k, v] of Object.entries(values)) out.append(k, v);
      if (buttonText) {
        const buttons = form
          .querySelectorAll('button, input[type="submit"]')
          .filter((b) => (b.tagName === 'BUTTON' ? b.text.trim() : b.getAttribute('value')) === buttonText);
        if (!buttons.length) throw new Error(`no "${buttonText}" button in the ${field} form`);
        const b = buttons[0];
        if (b.getAttribute('name')) out.append(b.getAttribute('name'), b.getAttribute('value') ?? '');
      }
      return out;
    },
  };
}

/** The text of the <label> for an input (for="id" or wrapping), or aria-label. */
function labelOf(root, input) {
  const id = input.getAttribute('id');
  if (id) {
    const l = root.querySelector(`label[for="${id}"]`);
    if (l) return l.text.trim().replace(/\s+/g, ' ');
  }
  let p = input.parentNode;
  while (p && p.tagName) {
    if (p.tagName === 'LABEL') return p.text.trim().replace(/\s+/g, ' ');
    p = p.parentNode;
  }
  return input.getAttribute('aria-label');
}
