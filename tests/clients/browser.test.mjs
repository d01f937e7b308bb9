// textid's sign-in pages in a real browser (Debian's Chromium, headless, driven by
// playwright-core): a small loopback web app signs its user in through textid's OpenID
// Connect provider (openid-client, authorization code + PKCE); the user types the phone
// number and the code from the SMS (a wrong one first), comes back signed in, gets single
// sign-on on the next visit, is asked again with prompt=login, and signs out.
// Screenshots of each page go to ${ARTIFACTS_DIR:-artifacts}/screenshots/.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';
import {
  WAIT_MS,
  artifactsDir,
  cli,
  closeServer,
  codeOf,
  createClient,
  createPhoneUser,
  listenLoopback,
  startTextid,
  startWebhookReceiver,
  tempDataDir,
} from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCOPE = 'openid profile phone offline_access';
const screenshots = path.join(artifactsDir, 'screenshots');

const ana = {
  upn: 'ana@contoso.example',
  displayName: 'Ana',
  typed: '+1 425 555 0101',
  e164: '+14255550101',
};

/**
 * The relying party: `/login` sends the browser to textid's authorize endpoint with PKCE
 * S256, state and nonce (`/login?prompt=login` passes prompt through); `/callback` checks
 * the response and redeems the code with openid-client; `/logout` ends the session.
 */
function relyingParty() {
  const pending = new Map(); // state -> { pkceCodeVerifier, nonce }
  const callbacks = []; // what /callback saw, for the tests
  let config;
  let origin;
  let lastIdToken;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, origin);
    const html = (status, body) =>
      res
        .writeHead(status, { 'content-type': 'text/html; charset=utf-8' })
        .end(`<!doctype html><html lang="en"><title>Contoso app</title><body>${body}</body></html>`);
    try {
      if (url.pathname === '/login') {
        const pkceCodeVerifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        const nonce = client.randomNonce();
        pending.set(state, { pkceCodeVerifier, nonce });
        const params = {
          redirect_uri: `${origin}/callback`,
          scope: SCOPE,
          code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
          code_challenge_method: 'S256',
          state,
          nonce,
        };
        if (url.searchParams.get('prompt')) params.prompt = url.searchParams.get('prompt');
        res.writeHead(302, { location: client.buildAuthorizationUrl(config, params).href }).end();
      } else if (url.pathname === '/callback') {
        const seen = {
          code: url.searchParams.get('code'),
          state: url.searchParams.get('state'),
          iss: url.searchParams.get('iss'),
          error: url.searchParams.get('error'),
        };
        callbacks.push(seen);
        const p = pending.get(seen.state);
        if (!p) throw new Error(`unknown state ${seen.state}`);
        pending.delete(seen.state);
        const tokens = await client.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: p.pkceCodeVerifier,
          expectedState: seen.state,
          expectedNonce: p.nonce,
        });
        seen.claims = tokens.claims();
        lastIdToken = tokens.id_token;
        html(200, `<h1>Signed in as ${seen.claims.name}</h1><p>${seen.claims.phone_number}</p>`);
      } else if (url.pathname === '/logout') {
        const end = client.buildEndSessionUrl(config, {
          id_token_hint: lastIdToken,
          post_logout_redirect_uri: `${origin}/signed-out`,
        });
        res.writeHead(302, { location: end.href }).end();
      } else if (url.pathname === '/signed-out') {
        html(200, '<h1>Signed out</h1>');
      } else {
        html(200, '<h1>Contoso app</h1><a href="/login">Sign in</a>');
      }
    } catch (e) {
      if (callbacks.length) callbacks[callbacks.length - 1].exchangeError = String(e?.stack ?? e);
      html(500, `<h1>Sign-in failed</h1><pre>${String(e).replace(/</g, '&lt;')}</pre>`);
    }
  });
  return {
    server,
    callbacks,
    async start() {
      origin = `http://127.0.0.1:${await listenLoopback(server)}`;
      return origin;
    },
    setConfig(c) {
      config = c;
    },
  };
}

let browser;

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
});

it('Chromium starts and renders a page', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.setContent('<label>Phone number <input name="phoneNumber"></label>');
    await page.getByLabel('Phone number', { exact: true }).fill('+1 425 555 0101');
    assert.equal(await page.inputValue('input'), '+1 425 555 0101');
  } finally {
    await context.close();
  }
});

describe('sign-in pages in Chromium', () => {
  let receiver;
  let textid;
  let dataDir;
  let app;
  let appOrigin;
  let context;
  let page;
  let user;
  const pageErrors = [];
  let signedIn = false;

  const shot = (name) => page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
  const onTextid = () => new URL(page.url()).origin === textid.base;
  const phoneField = () => page.getByLabel('Phone number or user name', { exact: true });
  const codeField = () => page.getByLabel('Code', { exact: true });

  before(async () => {
    fs.mkdirSync(screenshots, { recursive: true });
    receiver = await startWebhookReceiver();
    dataDir = tempDataDir('browser');
    textid = await startTextid({ name: 'browser', dataDir, webhookUrl: receiver.url });
    await cli(dataDir, ['policy', 'sms', '--state', 'enabled']);
    user = await createPhoneUser(dataDir, { upn: ana.upn, displayName: ana.displayName, number: ana.typed });
    app = relyingParty();
    appOrigin = await app.start();
    const registered = await createClient(dataDir, {
      name: 'Contoso app',
      type: 'confidential',
      redirectUri: `${appOrigin}/callback`,
      postLogoutRedirectUri: `${appOrigin}/signed-out`,
    });
    app.setConfig(
      await client.discovery(
        new URL(textid.issuer),
        registered.clientId,
        undefined,
        client.ClientSecretBasic(registered.clientSecret),
        { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] },
      ),
    );
    context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(WAIT_MS);
    context.setDefaultNavigationTimeout(WAIT_MS);
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  });

  after(async () => {
    await context?.close();
    if (app) await closeServer(app.server);
    await textid?.stop();
    await receiver?.close();
    if (dataDir && !process.env.KEEP_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('signs in with the phone number and the SMS code, after a wrong code', async () => {
    await page.goto(`${appOrigin}/`);
    await page.getByRole('link', { name: 'Sign in' }).click();

    // The phone page.
    await phoneField().waitFor();
    assert.ok(onTextid(), `the phone page is served by textid (${page.url()})`);
    await shot('1-phone-page');
    await phoneField().fill(ana.typed);
    await page.getByRole('button', { name: 'Next', exact: true }).click();

    // The code page.
    await codeField().waitFor();
    assert.ok(onTextid(), `the code page is served by textid (${page.url()})`);
    assert.equal(await codeField().getAttribute('name'), 'code');
    assert.equal(await codeField().getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await codeField().getAttribute('inputmode'), 'numeric');
    assert.equal(await page.getByRole('button', { name: 'Send a new code', exact: true }).count(), 1);
    await shot('2-code-page');
    const right = codeOf(await receiver.next(ana.e164));
    const wrong = right.slice(0, -1) + String((Number(right.at(-1)) + 1) % 10);

    // A wrong code: an inline alert, still on the code page.
    await codeField().fill(wrong);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // (an alert that says something: an empty live region may already be on the page)
    const alert = page.getByRole('alert').filter({ hasText: /\S/ }).first();
    await alert.waitFor();
    assert.ok(onTextid(), `a wrong code stays on textid (${page.url()})`);
    assert.ok(await codeField().isVisible(), 'the Code field is still there');
    // The alert belongs to the field: assistive technology reads it with the field.
    assert.equal(await codeField().getAttribute('aria-invalid'), 'true');
    const alertId = await alert.getAttribute('id');
    assert.ok(alertId, 'the alert has an id');
    assert.ok(
      (await codeField().getAttribute('aria-describedby') ?? '').split(/\s+/).includes(alertId),
      'the Code field is described by the alert',
    );
    await shot('3-code-page-wrong-code');

    // The right code: back at the app with code, state and iss.
    await codeField().fill(right);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/callback');
    const url = new URL(page.url());
    assert.ok(url.searchParams.get('code'), 'code');
    assert.ok(url.searchParams.get('state'), 'state');
    assert.equal(url.searchParams.get('iss'), textid.issuer, 'iss (RFC 9207)');
    const seen = app.callbacks.at(-1);
    assert.equal(seen.exchangeError, undefined, `the app redeemed the code: ${seen.exchangeError}`);
    assert.equal(seen.claims.sub, user.id);
    assert.equal(seen.claims.phone_number, ana.e164);
    assert.deepEqual(seen.claims.amr, ['sms']);
    await page.getByRole('heading', { name: 'Signed in as Ana' }).waitFor();
    await shot('4-callback');
    signedIn = true;
    // textid's cookies are out of reach of scripts and of cross-site POSTs.
    const cookies = await context.cookies(textid.base);
    assert.ok(cookies.length > 0, 'textid keeps a session cookie');
    for (const c of cookies) {
      assert.equal(c.httpOnly, true, `${c.name} is HttpOnly`);
      assert.equal(c.sameSite, 'Lax', `${c.name} is SameSite=Lax`);
    }
  });

  it('signs in again without the phone page (single sign-on)', async () => {
    assert.ok(signedIn, 'needs the sign-in above');
    const textidPages = [];
    const onResponse = (r) => {
      if (r.request().isNavigationRequest() && new URL(r.url()).origin === textid.base) {
        textidPages.push(`${r.status()} ${new URL(r.url()).pathname}`);
      }
    };
    page.on('response', onResponse);
    try {
      await page.goto(`${appOrigin}/login`);
      await page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/callback');
    } finally {
      page.off('response', onResponse);
    }
    assert.ok(textidPages.length > 0, 'went through textid');
    assert.ok(
      textidPages.every((s) => /^30[1-8] /.test(s)),
      `textid only redirected, showed no page: ${textidPages.join(', ')}`,
    );
    const seen = app.callbacks.at(-1);
    assert.equal(seen.exchangeError, undefined, `the app redeemed the code: ${seen.exchangeError}`);
    assert.equal(seen.iss, textid.issuer);
    assert.equal(seen.claims.sub, user.id);
    await page.getByRole('heading', { name: 'Signed in as Ana' }).waitFor();
    await shot('5-callback-sso');
  });

  it('asks for the phone number again with prompt=login', async () => {
    assert.ok(signedIn, 'needs the sign-in above');
    const earlier = app.callbacks.at(-1).claims.auth_time;
    await page.goto(`${appOrigin}/login?prompt=login`);
    await phoneField().waitFor();
    assert.ok(onTextid(), `the phone page again (${page.url()})`);
    await shot('6-phone-page-prompt-login');
    await phoneField().fill(ana.typed);
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await codeField().waitFor();
    await codeField().fill(codeOf(await receiver.next(ana.e164)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/callback');
    const seen = app.callbacks.at(-1);
    assert.equal(seen.exchangeError, undefined, `the app redeemed the code: ${seen.exchangeError}`);
    assert.ok(seen.claims.auth_time >= earlier, 'a fresh authentication');
  });

  it('signs out through end session, after which the phone page is shown again', async () => {
    assert.ok(signedIn, 'needs the sign-in above');
    await page.goto(`${appOrigin}/logout`);
    if (onTextid()) {
      // A confirmation page: press its (only) button.
      await shot('7-sign-out-confirmation');
      await page.getByRole('button').first().click();
    }
    await page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/signed-out');
    await shot('8-signed-out');
    await page.goto(`${appOrigin}/login`);
    await phoneField().waitFor();
    assert.ok(onTextid(), 'signed out: the phone page again');
  });

  it('raised no JavaScript errors on any page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
