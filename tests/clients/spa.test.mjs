// A single-page app in real Chromium (issue #19): a page served from its own loopback
// origin (another port than textid's) runs the authorization code flow with PKCE S256 in
// the browser, with nothing but fetch() and WebCrypto: it reads discovery, sends the user
// to textid's pages, redeems the code at the token endpoint and reads userinfo, all
// cross-origin. textid allows that origin because it is the origin of the public client's
// redirect URI. A page of an origin no client registered is refused by the browser itself
// (CORS), for the token and userinfo endpoints; discovery stays readable from anywhere.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  WAIT_MS,
  artifactsDir,
  cli,
  closeServer,
  codeOf,
  createPhoneUser,
  listenLoopback,
  startTextid,
  startWebhookReceiver,
  tempDataDir,
} from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'];
const screenshots = path.join(artifactsDir, 'screenshots');

const ana = { upn: 'ana@contoso.example', displayName: 'Ana', typed: '+1 425 555 0101', e164: '+14255550101' };

/**
 * The SPA: one HTML page for every path. Without `code` in the URL it offers "Sign in"
 * (PKCE verifier, state and nonce in sessionStorage, then off to authorize); with `code`
 * it checks state and iss, redeems the code and reads userinfo, and shows what it got in
 * `#result` (`data-state="done"`).
 */
function spaPage({ issuer, clientId }) {
  return `<!doctype html><html lang="en"><title>Contoso SPA</title><body>
<h1>Contoso SPA</h1><button id="signin">Sign in</button><pre id="result"></pre>
<script type="module">
const issuer = ${JSON.stringify(issuer)};
const clientId = ${JSON.stringify(clientId)};
const redirectUri = location.origin + '/callback';
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const random = () => b64url(crypto.getRandomValues(new Uint8Array(32)));
const show = (state, value) => {
  const out = document.getElementById('result');
  out.textContent = JSON.stringify(value);
  out.dataset.state = state;
};
const meta = await (await fetch(issuer + '/.well-known/openid-configuration')).json();
document.getElementById('signin').onclick = async () => {
  const verifier = random();
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = random();
  sessionStorage.setItem('pkce', JSON.stringify({ verifier, state }));
  const url = new URL(meta.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri,
    scope: 'openid profile phone', state, nonce: random(),
    code_challenge: challenge, code_challenge_method: 'S256',
  });
  location.assign(url);
};
const params = new URLSearchParams(location.search);
if (params.has('code')) {
  try {
    const saved = JSON.parse(sessionStorage.getItem('pkce'));
    if (params.get('state') !== saved.state) throw new Error('state mismatch');
    if (params.get('iss') !== meta.issuer) throw new Error('iss mismatch');
    const tokenAnswer = await fetch(meta.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', client_id: clientId, code: params.get('code'),
        redirect_uri: redirectUri, code_verifier: saved.verifier,
      }),
    });
    const tokens = await tokenAnswer.json();
    if (!tokenAnswer.ok) throw new Error('token endpoint: ' + JSON.stringify(tokens));
    const info = await (await fetch(meta.userinfo_endpoint, {
      headers: { authorization: 'Bearer ' + tokens.access_token },
    })).json();
    show('done', { tokenType: tokens.token_type, scope: tokens.scope, hasIdToken: !!tokens.id_token,
      accessToken: tokens.access_token, userinfo: info });
  } catch (e) {
    show('failed', { error: String(e) });
  }
}
</script></body></html>`;
}

/**
 * A page of an origin no client registered: it tries discovery, the token endpoint and
 * userinfo with fetch() and reports, for each, the status it could read or that the
 * browser blocked the answer.
 */
function foreignPage({ issuer, clientId, accessToken }) {
  return `<!doctype html><html lang="en"><title>Elsewhere</title><body><pre id="result"></pre>
<script type="module">
const issuer = ${JSON.stringify(issuer)};
const tenantBase = issuer.replace(/\\/v2\\.0$/, '');
const attempt = async (request) => {
  try { return (await request()).status; } catch (e) { return 'blocked: ' + e.name; }
};
const result = {
  discovery: await attempt(() => fetch(issuer + '/.well-known/openid-configuration')),
  token: await attempt(() => fetch(tenantBase + '/oauth2/v2.0/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: ${JSON.stringify(clientId)},
      code: 'x', redirect_uri: location.origin + '/callback', code_verifier: 'y'.repeat(43) }),
  })),
  userinfo: await attempt(() => fetch(tenantBase + '/oauth2/v2.0/userinfo', {
    headers: { authorization: 'Bearer ' + ${JSON.stringify(accessToken)} },
  })),
};
const out = document.getElementById('result');
out.textContent = JSON.stringify(result);
out.dataset.state = 'done';
</script></body></html>`;
}

/** A loopback server answering every GET with `render()`. */
async function pageServer(render) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(render());
  });
  const origin = `http://127.0.0.1:${await listenLoopback(server)}`;
  return { server, origin };
}

describe('a single-page app in Chromium (CORS + PKCE)', () => {
  let browser;
  let receiver;
  let textid;
  let dataDir;
  let spa;
  let foreign;
  let context;
  let page;
  let registered;
  let accessToken;
  const pageErrors = [];
  const shot = (name) => page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
  const result = async () => {
    const out = page.locator('#result[data-state]');
    await out.waitFor();
    return { state: await out.getAttribute('data-state'), value: JSON.parse(await out.textContent()) };
  };

  before(async () => {
    fs.mkdirSync(screenshots, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    receiver = await startWebhookReceiver();
    dataDir = tempDataDir('spa');
    textid = await startTextid({ name: 'spa', dataDir, webhookUrl: receiver.url });
    await cli(dataDir, ['policy', 'sms', '--state', 'enabled']);
    await createPhoneUser(dataDir, { upn: ana.upn, displayName: ana.displayName, number: ana.typed });
    let spaHtml = '';
    spa = await pageServer(() => spaHtml);
    // A public client; its web origin comes from its redirect URI, no --allowed-origin.
    registered = await cli(dataDir, [
      'client', 'create', '--name', 'Contoso SPA', '--type', 'public',
      '--redirect-uri', `${spa.origin}/callback`,
    ]);
    assert.deepEqual(registered.webOrigins, [spa.origin]);
    spaHtml = spaPage({ issuer: textid.issuer, clientId: registered.clientId });
    foreign = await pageServer(() =>
      foreignPage({ issuer: textid.issuer, clientId: registered.clientId, accessToken }),
    );
    assert.notEqual(foreign.origin, spa.origin);
    context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(WAIT_MS);
    context.setDefaultNavigationTimeout(WAIT_MS);
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    if (spa) await closeServer(spa.server);
    if (foreign) await closeServer(foreign.server);
    await textid?.stop();
    await receiver?.close();
    if (dataDir && !process.env.KEEP_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('completes the sign-in with PKCE and reads tokens and userinfo from the page', async () => {
    await page.goto(`${spa.origin}/`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const phone = page.getByLabel('Phone number or user name', { exact: true });
    await phone.waitFor();
    assert.equal(new URL(page.url()).origin, textid.base);
    await phone.fill(ana.typed);
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    const code = page.getByLabel('Code', { exact: true });
    await code.waitFor();
    await code.fill(codeOf(await receiver.next(ana.e164)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.origin === spa.origin && u.pathname === '/callback');
    const { state, value } = await result();
    await shot('spa-1-signed-in');
    assert.equal(state, 'done', JSON.stringify(value));
    assert.equal(value.tokenType, 'Bearer');
    assert.equal(value.scope, 'openid profile phone');
    assert.ok(value.hasIdToken);
    assert.equal(value.userinfo.phone_number, ana.e164);
    assert.equal(value.userinfo.name, ana.displayName);
    accessToken = value.accessToken;
  });

  it('refuses a page of an unregistered origin in the browser, but not discovery', async () => {
    assert.ok(accessToken, 'needs the sign-in above');
    await page.goto(`${foreign.origin}/`);
    const { value } = await result();
    await shot('spa-2-foreign-origin');
    assert.equal(value.discovery, 200, JSON.stringify(value));
    assert.match(String(value.token), /^blocked: TypeError/, JSON.stringify(value));
    assert.match(String(value.userinfo), /^blocked: TypeError/, JSON.stringify(value));
  });

  it('raised no JavaScript errors on any page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
