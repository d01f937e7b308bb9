// Passwords, MFA, self-service password reset and Temporary Access Pass sign-in in a real
// browser (Debian's Chromium, headless, driven by playwright-core), as a person uses them
// (issue #15):
//   1. user name, then password, then a code texted to the mobile: the app's ID token says
//      amr ["pwd", "sms", "mfa"] (the tenant requires MFA; SMS is "MFA and SSPR only");
//   2. the same with "call me": the code read out by a call, amr ["pwd", "tel", "mfa"];
//   3. "Forgot your password?": user name, a code to the phone, a new password, then a
//      sign-in with it;
//   4. a new worker's first sign-in with a Temporary Access Pass, then registering a phone
//      on the security info page, then "Continue to the app": the app's ID token says
//      amr ["tap"].
// Screenshots of each page go to ${ARTIFACTS_DIR:-artifacts}/screenshots/password-*.png.

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
  listenLoopback,
  startTextid,
  startWebhookReceiver,
  tempDataDir,
} from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'];
const screenshots = path.join(artifactsDir, 'screenshots');

const ana = { upn: 'ana@contoso.example', typed: '+1 425 555 0101', e164: '+14255550101' };
const cy = { upn: 'cy@contoso.example' };
const CY_MOBILE = { typed: '+1 425 555 0177', e164: '+14255550177' };
const NEW_PASSWORD = 'Quiet-Meadow-Engine-7';

/** The code a call reads out: "1 2 3 4 5 6 is your …". */
function spokenCode(msg) {
  assert.equal(msg.channel, 'voice', `a call: ${JSON.stringify(msg)}`);
  const m = /^((?:\d ){5,}\d) is your/.exec(String(msg.body));
  assert.ok(m, `the digits are spaced out: ${JSON.stringify(msg.body)}`);
  return m[1].replaceAll(' ', '');
}

/** A one-page app: `/login` → textid (PKCE); `/callback` redeems the code. */
function relyingParty() {
  const pending = new Map();
  let config;
  let origin;
  let claims;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, origin);
    try {
      if (url.pathname === '/login') {
        const pkceCodeVerifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        pending.set(state, pkceCodeVerifier);
        const params = {
          redirect_uri: `${origin}/callback`,
          scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
          code_challenge_method: 'S256',
          state,
          prompt: 'login',
        };
        res.writeHead(302, { location: client.buildAuthorizationUrl(config, params).href }).end();
      } else {
        const state = url.searchParams.get('state');
        const tokens = await client.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: pending.get(state),
          expectedState: state,
        });
        claims = tokens.claims();
        res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Signed in</h1>');
      }
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(e));
    }
  });
  return {
    server,
    claims: () => claims,
    async start() {
      origin = `http://127.0.0.1:${await listenLoopback(server)}`;
      return origin;
    },
    setConfig(c) {
      config = c;
    },
  };
}

describe('passwords, MFA, password reset and Temporary Access Passes in Chromium', () => {
  let browser;
  let receiver;
  let textid;
  let dataDir;
  let app;
  let appOrigin;
  let context;
  let page;
  let anaPassword;
  let graphToken;
  const shot = (name) =>
    page.screenshot({ path: path.join(screenshots, `password-${name}.png`), fullPage: true });
  const firstField = () => page.getByLabel('Phone number or user name', { exact: true });
  const codeField = () => page.getByLabel('Code', { exact: true });
  const passwordField = () => page.getByLabel('Password', { exact: true });

  before(async () => {
    fs.mkdirSync(screenshots, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    receiver = await startWebhookReceiver();
    dataDir = tempDataDir('password');
    textid = await startTextid({ name: 'password', dataDir, webhookUrl: receiver.url });
    // SMS for MFA and SSPR only (Entra's "use for sign-in" unchecked), voice on, passes on.
    await cli(dataDir, ['policy', 'sms', '--state', 'enabled', '--include', 'all_users:mfa-only']);
    await cli(dataDir, ['policy', 'voice', '--state', 'enabled']);
    await cli(dataDir, ['policy', 'tap', '--state', 'enabled']);
    await cli(dataDir, ['tenant', 'set-require-mfa', 'default', 'true']);
    await cli(dataDir, ['user', 'create', '--upn', ana.upn, '--display-name', 'Ana']);
    await cli(dataDir, ['phone', 'add', ana.upn, '--number', ana.typed]);
    anaPassword = (await cli(dataDir, ['user', 'set-password', ana.upn, '--generate'])).password;
    await cli(dataDir, ['user', 'create', '--upn', cy.upn, '--display-name', 'Cy']);
    app = relyingParty();
    appOrigin = await app.start();
    const registered = await createClient(dataDir, {
      name: 'Contoso app',
      type: 'confidential',
      redirectUri: `${appOrigin}/callback`,
    });
    app.setConfig(
      await client.discovery(
        new URL(textid.issuer),
        registered.clientId,
        undefined,
        client.ClientSecretBasic(registered.clientSecret),
        { execute: [client.allowInsecureRequests] },
      ),
    );
    // An admin app for Graph (to issue a Temporary Access Pass, as an admin's script would).
    const admin = await createClient(dataDir, {
      name: 'Helpdesk',
      type: 'confidential',
      redirectUri: 'http://127.0.0.1:1/unused',
      grants: ['client_credentials'],
    });
    await cli(dataDir, ['client', 'grant', admin.clientId, 'UserAuthenticationMethod.ReadWrite.All']);
    const basic = Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64');
    const tokenRes = await fetch(`${textid.base}/default/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    assert.equal(tokenRes.status, 200, await tokenRes.clone().text());
    graphToken = (await tokenRes.json()).access_token;
    context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(WAIT_MS);
    page = await context.newPage();
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    if (app) await closeServer(app.server);
    await textid?.stop();
    await receiver?.close();
    if (dataDir && !process.env.KEEP_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function toPasswordPage(upn, name) {
    await context.clearCookies();
    await page.goto(`${appOrigin}/login`);
    await firstField().waitFor();
    if (name) await shot(`${name}-first-page`);
    await firstField().fill(upn);
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await passwordField().waitFor();
  }

  it('signs in with a password, then a code texted to the mobile', async () => {
    await toPasswordPage(ana.upn, '1');
    await shot('2-password-page');
    await passwordField().fill(anaPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await codeField().waitFor();
    await shot('3-second-factor-code');
    await codeField().fill(codeOf(await receiver.next(ana.e164)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/callback');
    assert.deepEqual(app.claims().amr, ['pwd', 'sms', 'mfa']);
  });

  it('signs in with a password, then a code read out by a call', async () => {
    await toPasswordPage(ana.upn);
    await passwordField().fill(anaPassword);
    await page.getByRole('button', { name: 'Sign in, and call me if a code is needed' }).click();
    await page.getByText('we are calling it now').waitFor();
    await shot('4-second-factor-call');
    await codeField().fill(spokenCode(await receiver.next(ana.e164)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/callback');
    assert.deepEqual(app.claims().amr, ['pwd', 'tel', 'mfa']);
  });

  it('resets a forgotten password with a code, then signs in with the new one', async () => {
    await toPasswordPage(ana.upn);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('User name', { exact: true }).fill(ana.upn);
    await shot('5-reset-user-name');
    await page.getByRole('button', { name: 'Text me a code', exact: true }).click();
    await codeField().waitFor();
    await codeField().fill(codeOf(await receiver.next(ana.e164)));
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await shot('6-reset-code-and-new-password');
    await page.getByRole('button', { name: 'Reset password', exact: true }).click();
    await page.getByRole('heading', { name: 'Password changed' }).waitFor();
    await shot('7-reset-done');
    const notice = await receiver.next(ana.e164);
    assert.match(String(notice.body), /password .* was reset/);
    // The old password no longer works; the new one does (with its second factor).
    await toPasswordPage(ana.upn);
    await passwordField().fill(anaPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').waitFor();
    await passwordField().fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await codeField().fill(codeOf(await receiver.next(ana.e164)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/callback');
    assert.deepEqual(app.claims().amr, ['pwd', 'sms', 'mfa']);
  });

  it("signs a new worker in with a Temporary Access Pass, registers their phone, then goes back to the app", async () => {
    const res = await fetch(
      `${textid.base}/v1.0/users/${cy.upn}/authentication/temporaryAccessPassMethods`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${graphToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ isUsableOnce: true }),
      },
    );
    assert.equal(res.status, 201, await res.clone().text());
    const pass = (await res.json()).temporaryAccessPass;
    await toPasswordPage(cy.upn, '8');
    await page.getByLabel('Or a Temporary Access Pass from your administrator').fill(pass);
    await shot('9-pass');
    await page.getByRole('button', { name: 'Sign in with the pass', exact: true }).click();
    await page.getByRole('heading', { name: 'Your security info' }).waitFor();
    await shot('10-security-info-after-pass');
    await page.getByLabel('Add a phone number').fill(CY_MOBILE.typed);
    await page.getByRole('button', { name: 'Send code', exact: true }).click();
    await codeField().waitFor();
    await codeField().fill(codeOf(await receiver.next(CY_MOBILE.e164)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // A security info change ends the user's other sessions; this browser stays signed in.
    await page.getByText('your other sessions were signed out').waitFor();
    await shot('11-phone-registered');
    const methods = await cli(dataDir, ['phone', 'list', cy.upn]);
    assert.match(JSON.stringify(methods), /\+1 4255550177/);
    // Then back to the app that sent the worker to sign in, signed in with the pass.
    await page.getByRole('link', { name: 'Continue to the app', exact: true }).click();
    await page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/callback');
    assert.deepEqual(app.claims().amr, ['tap']);
  });
});
