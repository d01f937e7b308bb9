// textid's voice codes and security info page in a real browser (Debian's Chromium, headless,
// driven by playwright-core), as a person uses them (issue #15):
//   1. a password-less SMS sign-in where the text does not come and the user presses
//      "Call me instead": the call's code (digits spaced out, at the webhook with
//      "channel": "voice") signs them in, and the app's ID token says amr ["tel"];
//   2. the security info page: sign in, add an office phone (proven by a call), change the
//      mobile (proven by a code to the new number; the other sessions are signed out), try a number
//      another user signs in with (the conflict shown in plain words), and remove a phone.
// Screenshots of each page go to ${ARTIFACTS_DIR:-artifacts}/screenshots/security-info-*.png.

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
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'];
const screenshots = path.join(artifactsDir, 'screenshots');

const ana = { upn: 'ana@contoso.example', typed: '+1 425 555 0101', e164: '+14255550101' };
const bo = { upn: 'bo@contoso.example', typed: '+1 425 555 0102', e164: '+14255550102' };
const NEW_MOBILE = { typed: '+1 425 555 0161', e164: '+14255550161' };
const OFFICE = { typed: '+1 425 555 0170', e164: '+14255550170' };

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

describe('voice codes and the security info page in Chromium', () => {
  let browser;
  let receiver;
  let textid;
  let dataDir;
  let app;
  let appOrigin;
  let context;
  let page;
  const shot = (name) =>
    page.screenshot({ path: path.join(screenshots, `security-info-${name}.png`), fullPage: true });
  // The app's login page takes a user name too; the security info page's own sign-in a number.
  const phoneField = () => page.getByLabel(/^Phone number( or user name)?$/);
  const nextButton = () => page.getByRole('button', { name: /^(Next|Send code)$/ });
  const codeField = () => page.getByLabel('Code', { exact: true });

  before(async () => {
    fs.mkdirSync(screenshots, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    receiver = await startWebhookReceiver();
    dataDir = tempDataDir('security-info');
    textid = await startTextid({ name: 'security-info', dataDir, webhookUrl: receiver.url });
    await cli(dataDir, ['policy', 'sms', '--state', 'enabled']);
    await cli(dataDir, ['policy', 'voice', '--state', 'enabled', '--office-phone-allowed', 'true']);
    await createPhoneUser(dataDir, { upn: ana.upn, displayName: 'Ana', number: ana.typed });
    await createPhoneUser(dataDir, { upn: bo.upn, displayName: 'Bo', number: bo.typed });
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

  it('signs in with a code read out by a call after pressing "Call me instead"', async () => {
    await page.goto(`${appOrigin}/login`);
    await phoneField().fill(ana.typed);
    await nextButton().click();
    await codeField().waitFor();
    await receiver.next(ana.e164); // the text that "did not arrive"
    const call = page.getByRole('button', { name: 'Call me instead', exact: true });
    assert.equal(await call.count(), 1, 'the code page offers a call');
    await shot('1-code-page-call-me');
    // The cooldown (30 s) holds for calls as for texts: the button enables itself.
    await call.waitFor();
    await page.waitForFunction(
      () => !document.getElementById('call').disabled,
      undefined,
      { timeout: 45_000 },
    );
    await call.click();
    await page.getByText('we are calling it now').waitFor();
    await shot('2-code-page-calling');
    const code = spokenCode(await receiver.next(ana.e164));
    await codeField().fill(code);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/callback');
    assert.deepEqual(app.claims().amr, ['tel']);
  });

  async function signInToSecurityInfo(name) {
    await context.clearCookies(); // a fresh sign-in, not the SSO session of before
    await page.goto(`${textid.base}/default/security-info`);
    await phoneField().waitFor();
    await shot(`${name}-sign-in`);
    await phoneField().fill(ana.typed);
    await nextButton().click();
    await codeField().fill(codeOf(await receiver.next(ana.e164)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your security info' }).waitFor();
  }

  it('adds an office phone proven by a call', async () => {
    await signInToSecurityInfo('3');
    await shot('4-security-info');
    await page.getByLabel('Phone', { exact: true }).selectOption('office');
    await page.getByLabel('New phone number').fill(OFFICE.typed);
    await page.getByRole('button', { name: 'Send code', exact: true }).click();
    await page.getByText('we are calling it now').waitFor();
    await shot('5-office-proof-call');
    await codeField().fill(spokenCode(await receiver.next(OFFICE.e164)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('your other sessions were signed out').waitFor();
  });

  it('shows the uniqueness conflict in plain words and sends no code', async () => {
    await signInToSecurityInfo('6');
    await page.getByLabel('New phone number').fill(bo.typed);
    await page.getByRole('button', { name: 'Send code', exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /belongs to another person/);
    await shot('7-uniqueness-conflict');
    assert.equal(receiver.pending(bo.e164), 0, 'no code to the other person');
  });

  it('changes the mobile after a code to the new number, then removes the office phone', async () => {
    await signInToSecurityInfo('8');
    assert.match(await page.locator('#method-office').innerText(), /Used for calls only/);
    await page.getByLabel('New phone number').fill(NEW_MOBILE.typed);
    await page.getByRole('button', { name: 'Send code', exact: true }).click();
    await codeField().waitFor();
    await shot('9-mobile-proof-code');
    await codeField().fill(codeOf(await receiver.next(NEW_MOBILE.e164)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('your other sessions were signed out').waitFor();
    await shot('10-mobile-changed');

    // This browser stays signed in: back to the page, which shows the new number.
    await page.goto(`${textid.base}/default/security-info`);
    await page.getByRole('heading', { name: 'Your security info' }).waitFor();
    assert.match(await page.locator('#method-mobile').innerText(), /\+1 4255550161/);
    await page.locator('#remove-office').click();
    await page.getByText('Removed.').waitFor();
    await shot('11-office-removed');
  });
});
