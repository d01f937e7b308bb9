// textid's OpenID Connect provider against openid-client v6 (a certified relying-party
// library): discovery, authorization code + PKCE S256 with state, nonce and RFC 9207 `iss`,
// the server-rendered phone and code pages driven over plain HTTP (the pages work without
// JavaScript), ID token claims and signatures (RS256, ES256, EdDSA) checked against the
// JWKS, userinfo, refresh token rotation, revocation and end session.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as client from 'openid-client';
import * as jose from 'jose';
import { parse as parseHtml } from 'node-html-parser';
import {
  UserAgent,
  cli,
  codeOf,
  createClient,
  createPhoneUser,
  decodeJwt,
  findForm,
  freePort,
  startTextid,
  startWebhookReceiver,
  tempDataDir,
} from './harness.mjs';

const SCOPE = 'openid profile phone offline_access';

let receiver;
let server;
let dataDir;
let appOrigin; // the relying party's origin: nothing listens there, the tests read Locations
let redirectUri;
let postLogoutRedirectUri;

before(async () => {
  receiver = await startWebhookReceiver();
  dataDir = tempDataDir('oidc');
  server = await startTextid({ name: 'oidc', dataDir, webhookUrl: receiver.url });
  appOrigin = `http://127.0.0.1:${await freePort()}`;
  redirectUri = `${appOrigin}/callback`;
  postLogoutRedirectUri = `${appOrigin}/signed-out`;
  // Provisioning through the CLI on the same data directory, while the server runs.
  await cli(dataDir, ['policy', 'sms', '--state', 'enabled']);
});

after(async () => {
  await server?.stop();
  await receiver?.close();
  if (dataDir && !process.env.KEEP_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** One user per client, so each gets its own number (and its own send budget). */
let userSeq = 0;
async function newUser(displayName) {
  userSeq += 1;
  const last = String(100 + userSeq).padStart(4, '0'); // 0101, 0102, ...
  const e164 = `+1425555${last}`;
  const upn = `${displayName.toLowerCase()}@contoso.example`;
  const user = await createPhoneUser(dataDir, {
    upn,
    displayName,
    number: `+1 425 555 ${last}`,
  });
  return { ...user, upn, displayName, e164, typed: `+1 425 555 ${last}` };
}

async function configFor(registered, { auth, alg }) {
  return client.discovery(
    new URL(server.issuer),
    registered.clientId,
    alg ? { id_token_signed_response_alg: alg } : undefined,
    auth,
    { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] },
  );
}

/** Builds an authorization request with PKCE S256, state and nonce; walks to the first stop. */
async function authorize(config, ua, { scope = SCOPE, extra = {} } = {}) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(pkceCodeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  const first = await ua.walk(url);
  return { pkceCodeVerifier, state, nonce, first, url };
}

/** On the phone page: types the number, sends, reads the SMS, types the code, signs in. */
async function phoneAndCode(ua, page, user) {
  assert.equal(page.kind, 'page', 'the authorize request leads to a page');
  assert.equal(page.status, 200, `phone page status (${ua.trace.join(', ')})`);
  const phoneForm = findForm(page, 'phoneNumber');
  assert.equal(phoneForm.method, 'POST', 'the phone form posts');
  assert.match(phoneForm.label ?? '', /Phone number/, 'the phone field is labelled "Phone number"');
  const codePage = await ua.submit(page, 'phoneNumber', { phoneNumber: user.typed }, 'Next');
  assert.equal(codePage.kind, 'page', 'sending the code leads to the code page');
  assert.equal(codePage.status, 200, `code page status (${ua.trace.join(', ')})`);
  const codeForm = findForm(codePage, 'code');
  assert.equal(codeForm.method, 'POST', 'the code form posts');
  assert.match(codeForm.label ?? '', /Code/, 'the code field is labelled "Code"');
  assert.equal(codeForm.input.getAttribute('autocomplete'), 'one-time-code');
  assert.equal(codeForm.input.getAttribute('inputmode'), 'numeric');
  const msg = await receiver.next(user.e164);
  assert.equal(msg.channel, 'sms');
  assert.equal(msg.kind, 'signInCode');
  assert.equal(msg.tenant, 'default');
  const code = codeOf(msg);
  const done = await ua.submit(codePage, 'code', { code }, 'Sign in');
  assert.equal(
    done.kind,
    'redirect',
    `a right code redirects to the client (got HTTP ${done.status}: ${String(done.text).slice(0, 500)})`,
  );
  return done.location;
}

function checkCallback(location, state) {
  assert.equal(location.origin + location.pathname, redirectUri, 'back at the redirect URI');
  const p = location.searchParams;
  assert.equal(p.get('error'), null, `authorization error: ${p.get('error')} ${p.get('error_description')}`);
  assert.ok(p.get('code'), 'a code in the authorization response');
  assert.equal(p.get('state'), state, 'state echoed');
  assert.equal(p.get('iss'), server.issuer, 'iss in the authorization response (RFC 9207)');
}

/** Checks the claims the contract promises; returns them. */
function checkIdToken(tokens, { registered, user, nonce, alg }) {
  assert.ok(tokens.id_token, 'an ID token');
  const { header } = decodeJwt(tokens.id_token);
  assert.equal(header.alg, alg, 'ID token alg');
  assert.ok(header.kid, 'ID token kid');
  const c = tokens.claims();
  const now = Math.floor(Date.now() / 1000);
  assert.equal(c.iss, server.issuer);
  assert.equal(c.sub, user.id, 'sub is the user id');
  assert.deepEqual([c.aud].flat(), [registered.clientId], 'aud is the client');
  assert.equal(typeof c.exp, 'number');
  assert.equal(typeof c.iat, 'number');
  assert.ok(c.exp > now, 'not expired');
  assert.ok(Math.abs(c.iat - now) <= 120, `iat ${c.iat} is now (${now})`);
  assert.equal(typeof c.auth_time, 'number', 'auth_time');
  assert.ok(c.auth_time <= c.iat + 1 && c.auth_time > now - 600, `auth_time ${c.auth_time}`);
  if (nonce !== undefined) assert.equal(c.nonce, nonce);
  assert.equal(typeof c.tid, 'string', 'tid');
  assert.ok(c.tid.length > 0, 'tid');
  assert.equal(c.phone_number, user.e164);
  assert.equal(c.phone_number_verified, true);
  assert.deepEqual(c.amr, ['sms']);
  assert.equal(c.name, user.displayName);
  assert.equal(c.preferred_username, user.upn);
  return c;
}

/** Verifies the ID token with jose against the JWKS, independently of openid-client. */
async function verifyWithJose(idToken, { registered, alg }) {
  const metadata = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json();
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
  const { payload, protectedHeader } = await jose.jwtVerify(idToken, jwks, {
    issuer: server.issuer,
    audience: registered.clientId,
    algorithms: [alg],
  });
  assert.equal(protectedHeader.alg, alg);
  // A token whose payload was changed must not verify.
  const [h, , sig] = idToken.split('.');
  const forged = Buffer.from(JSON.stringify({ ...payload, sub: 'someone-else' })).toString('base64url');
  await assert.rejects(
    jose.jwtVerify(`${h}.${forged}.${sig}`, jwks, { algorithms: [alg] }),
    (e) => e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    'a forged ID token fails verification',
  );
  return protectedHeader;
}

function isInvalidGrant(e) {
  assert.ok(e instanceof client.ResponseBodyError, `expected an OAuth error response, got ${e}`);
  assert.equal(e.error, 'invalid_grant', `${e.error}: ${e.error_description}`);
  return true;
}

describe('discovery and JWKS', () => {
  it('publishes the contract endpoints and capabilities', async () => {
    const res = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const m = await res.json();
    const base = `${server.base}/default`;
    assert.equal(m.issuer, server.issuer);
    assert.equal(m.authorization_endpoint, `${base}/oauth2/v2.0/authorize`);
    assert.equal(m.token_endpoint, `${base}/oauth2/v2.0/token`);
    assert.equal(m.userinfo_endpoint, `${base}/oauth2/v2.0/userinfo`);
    assert.equal(m.end_session_endpoint, `${base}/oauth2/v2.0/logout`);
    assert.equal(m.revocation_endpoint, `${base}/oauth2/v2.0/revoke`);
    assert.equal(m.jwks_uri, `${base}/discovery/v2.0/keys`);
    assert.ok(m.response_types_supported.includes('code'));
    for (const s of ['openid', 'profile', 'phone', 'offline_access']) {
      assert.ok(m.scopes_supported?.includes(s), `scopes_supported has ${s}`);
    }
    assert.deepEqual(m.code_challenge_methods_supported, ['S256'], 'only S256 (no plain)');
    assert.equal(m.authorization_response_iss_parameter_supported, true);
    for (const a of ['RS256', 'ES256', 'EdDSA']) {
      assert.ok(m.id_token_signing_alg_values_supported.includes(a), `signs ID tokens with ${a}`);
    }
    assert.ok(!m.id_token_signing_alg_values_supported.includes('none'), 'no alg=none');
    for (const a of ['client_secret_basic', 'none']) {
      assert.ok(m.token_endpoint_auth_methods_supported.includes(a), `token auth ${a}`);
    }
    assert.ok(m.grant_types_supported?.includes('authorization_code'));
    assert.ok(m.grant_types_supported?.includes('refresh_token'));
    assert.ok(m.subject_types_supported?.includes('public'));
  });

  it('serves public keys only, each with a kid', async () => {
    const res = await fetch(`${server.base}/default/discovery/v2.0/keys`);
    assert.equal(res.status, 200);
    const { keys } = await res.json();
    assert.ok(Array.isArray(keys) && keys.length >= 3, 'RSA, P-256 and Ed25519 keys');
    for (const k of keys) {
      assert.ok(k.kid, 'kid');
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
        assert.equal(k[priv], undefined, `no private member ${priv} in ${k.kid}`);
      }
    }
    assert.ok(keys.some((k) => k.kty === 'RSA'), 'an RSA key');
    assert.ok(keys.some((k) => k.kty === 'EC' && k.crv === 'P-256'), 'a P-256 key');
    assert.ok(keys.some((k) => k.kty === 'OKP' && k.crv === 'Ed25519'), 'an Ed25519 key');
  });
});

for (const kind of ['confidential', 'public']) {
  describe(`${kind} client (${kind === 'confidential' ? 'client_secret_basic' : 'token auth none'}), RS256`, () => {
    let registered;
    let config;
    let user;
    let ua;
    let first; // the first sign-in: { tokens, claims, id_token }

    before(async () => {
      user = await newUser(kind === 'confidential' ? 'Ana' : 'Ben');
      registered = await createClient(dataDir, {
        name: kind === 'confidential' ? 'Web app' : 'Native app',
        type: kind,
        redirectUri,
        postLogoutRedirectUri,
      });
      if (kind === 'confidential') {
        assert.ok(registered.clientSecret, 'a confidential client gets a secret');
      } else {
        assert.equal(registered.clientSecret ?? undefined, undefined, 'a public client has no secret');
      }
      assert.deepEqual(registered.redirectUris, [redirectUri]);
      const auth =
        kind === 'confidential' ? client.ClientSecretBasic(registered.clientSecret) : client.None();
      config = await configFor(registered, { auth, alg: 'RS256' });
      ua = new UserAgent(server.base);
    });

    it('signs in with phone and code; the ID token carries the contract claims', async () => {
      const req = await authorize(config, ua);
      const location = await phoneAndCode(ua, req.first, user);
      checkCallback(location, req.state);
      const tokens = await client.authorizationCodeGrant(config, location, {
        pkceCodeVerifier: req.pkceCodeVerifier,
        expectedState: req.state,
        expectedNonce: req.nonce,
      });
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.ok(tokens.access_token, 'an access token');
      assert.ok(tokens.refresh_token, 'a refresh token (offline_access was asked for)');
      assert.ok(tokens.expires_in > 0, 'expires_in');
      const claims = checkIdToken(tokens, { registered, user, nonce: req.nonce, alg: 'RS256' });
      await verifyWithJose(tokens.id_token, { registered, alg: 'RS256' });
      first = { tokens, claims };
    });

    it('userinfo returns the signed-in user', async () => {
      assert.ok(first, 'needs the sign-in above');
      const info = await client.fetchUserInfo(config, first.tokens.access_token, user.id);
      assert.equal(info.sub, user.id);
      assert.equal(info.phone_number, user.e164);
      assert.equal(info.phone_number_verified, true);
      assert.equal(info.name, user.displayName);
      const res = await fetch(config.serverMetadata().userinfo_endpoint, {
        headers: { authorization: 'Bearer not-a-token' },
      });
      assert.equal(res.status, 401, 'a bad access token is refused');
    });

    it('refresh rotates the refresh token; the old one then fails with invalid_grant', async () => {
      assert.ok(first, 'needs the sign-in above');
      const old = first.tokens.refresh_token;
      const next = await client.refreshTokenGrant(config, old);
      assert.ok(next.access_token, 'a new access token');
      assert.ok(next.refresh_token, 'a new refresh token');
      assert.notEqual(next.refresh_token, old, 'rotated');
      if (next.id_token) {
        const c = next.claims();
        assert.equal(c.sub, user.id);
        assert.equal(c.auth_time, first.claims.auth_time, 'auth_time is the original sign-in');
      }
      const info = await client.fetchUserInfo(config, next.access_token, user.id);
      assert.equal(info.sub, user.id);
      await assert.rejects(client.refreshTokenGrant(config, old), isInvalidGrant);
    });

    it('SSO: a second authorize redirects straight back; no refresh token without offline_access', async () => {
      assert.ok(first, 'needs the sign-in above');
      const req = await authorize(config, ua, { scope: 'openid profile phone' });
      assert.equal(
        req.first.kind,
        'redirect',
        `the SSO session skips the phone page (got HTTP ${req.first.status} at ${req.first.url})`,
      );
      checkCallback(req.first.location, req.state);
      const tokens = await client.authorizationCodeGrant(config, req.first.location, {
        pkceCodeVerifier: req.pkceCodeVerifier,
        expectedState: req.state,
        expectedNonce: req.nonce,
      });
      assert.equal(tokens.refresh_token, undefined, 'no refresh token without offline_access');
      const c = checkIdToken(tokens, { registered, user, nonce: req.nonce, alg: 'RS256' });
      assert.equal(c.auth_time, first.claims.auth_time, 'auth_time is when the user signed in');
      assert.equal(c.tid, first.claims.tid);
    });

    it('revoking the rotated refresh token makes it fail with invalid_grant', async () => {
      assert.ok(first, 'needs the sign-in above');
      const req = await authorize(config, ua);
      assert.equal(req.first.kind, 'redirect', 'SSO');
      const tokens = await client.authorizationCodeGrant(config, req.first.location, {
        pkceCodeVerifier: req.pkceCodeVerifier,
        expectedState: req.state,
        expectedNonce: req.nonce,
      });
      const rotated = (await client.refreshTokenGrant(config, tokens.refresh_token)).refresh_token;
      assert.ok(rotated);
      await client.tokenRevocation(config, rotated);
      await assert.rejects(client.refreshTokenGrant(config, rotated), isInvalidGrant);
      // Revoking an unknown token is not an error (RFC 7009 §2.2).
      await client.tokenRevocation(config, 'no-such-token');
    });

    it('replaying a rotated refresh token revokes its successor (reuse detection)', async () => {
      assert.ok(first, 'needs the sign-in above');
      const req = await authorize(config, ua);
      assert.equal(req.first.kind, 'redirect', 'SSO');
      const tokens = await client.authorizationCodeGrant(config, req.first.location, {
        pkceCodeVerifier: req.pkceCodeVerifier,
        expectedState: req.state,
        expectedNonce: req.nonce,
      });
      const successor = (await client.refreshTokenGrant(config, tokens.refresh_token)).refresh_token;
      await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), isInvalidGrant);
      await assert.rejects(client.refreshTokenGrant(config, successor), isInvalidGrant);
    });

    it('a code is single use; replaying it revokes the tokens it gave (RFC 6749 §4.1.2)', async () => {
      assert.ok(first, 'needs the sign-in above');
      const req = await authorize(config, ua);
      assert.equal(req.first.kind, 'redirect', 'SSO');
      const checks = {
        pkceCodeVerifier: req.pkceCodeVerifier,
        expectedState: req.state,
        expectedNonce: req.nonce,
      };
      const tokens = await client.authorizationCodeGrant(config, req.first.location, checks);
      await assert.rejects(client.authorizationCodeGrant(config, req.first.location, checks), isInvalidGrant);
      await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), isInvalidGrant);
      await assert.rejects(
        client.fetchUserInfo(config, tokens.access_token, user.id),
        (e) => e instanceof client.WWWAuthenticateChallengeError && e.status === 401,
      );
    });

    it('a wrong PKCE verifier fails with invalid_grant', async () => {
      const req = await authorize(config, ua);
      assert.equal(req.first.kind, 'redirect', 'SSO');
      await assert.rejects(
        client.authorizationCodeGrant(config, req.first.location, {
          pkceCodeVerifier: client.randomPKCECodeVerifier(),
          expectedState: req.state,
          expectedNonce: req.nonce,
        }),
        isInvalidGrant,
      );
    });

    if (kind === 'confidential') {
      it('refuses a request without PKCE, with plain PKCE, or to an unregistered redirect URI', async () => {
        const state = client.randomState();
        const base = { redirect_uri: redirectUri, scope: SCOPE, state, nonce: client.randomNonce() };
        for (const extra of [{}, { code_challenge: client.randomPKCECodeVerifier(), code_challenge_method: 'plain' }]) {
          const r = await ua.walk(client.buildAuthorizationUrl(config, { ...base, ...extra }));
          assert.equal(r.kind, 'redirect', `an error response to the client for ${JSON.stringify(extra)}`);
          assert.equal(r.location.origin + r.location.pathname, redirectUri);
          assert.equal(r.location.searchParams.get('error'), 'invalid_request');
          assert.equal(r.location.searchParams.get('code'), null, 'no code');
          assert.equal(r.location.searchParams.get('state'), state);
          assert.equal(r.location.searchParams.get('iss'), server.issuer);
        }
        const verifier = client.randomPKCECodeVerifier();
        const evil = client.buildAuthorizationUrl(config, {
          ...base,
          redirect_uri: `${appOrigin}/callback/evil`,
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        });
        const r = await ua.walk(evil);
        assert.equal(r.kind, 'page', 'never redirects to an unregistered redirect URI');
        assert.ok(r.status >= 400 && r.status < 500, `an error page (HTTP ${r.status})`);
      });

      it('prompt=login shows the phone page despite the SSO session', async () => {
        const req = await authorize(config, ua, { extra: { prompt: 'login' } });
        assert.equal(req.first.kind, 'page', 'prompt=login asks again');
        findForm(req.first, 'phoneNumber');
      });

      it('end session redirects to the post-logout URI and ends the SSO session', async () => {
        assert.ok(first, 'needs the sign-in above');
        const state = client.randomState();
        const url = client.buildEndSessionUrl(config, {
          id_token_hint: first.tokens.id_token,
          post_logout_redirect_uri: postLogoutRedirectUri,
          state,
        });
        let r = await ua.walk(url);
        if (r.kind === 'page') {
          // A confirmation page: press its button, as a user would.
          const root = parseHtml(r.text);
          const form = root.querySelector('form');
          assert.ok(form, `end session shows a page without a form (HTTP ${r.status})`);
          const fields = new URLSearchParams();
          for (const el of form.querySelectorAll('input[name]')) {
            fields.append(el.getAttribute('name'), el.getAttribute('value') ?? '');
          }
          r = await ua.walk(new URL(form.getAttribute('action') || r.url, r.url), {
            method: (form.getAttribute('method') || 'get').toUpperCase(),
            form: fields,
          });
        }
        assert.equal(r.kind, 'redirect', 'back to the client');
        assert.equal(r.location.origin + r.location.pathname, postLogoutRedirectUri);
        assert.equal(r.location.searchParams.get('state'), state);
        const again = await authorize(config, ua);
        assert.equal(again.first.kind, 'page', 'signed out: the phone page again');
        findForm(again.first, 'phoneNumber');
      });
    }
  });
}

for (const [alg, jwk] of [
  ['ES256', { kty: 'EC', crv: 'P-256' }],
  ['EdDSA', { kty: 'OKP', crv: 'Ed25519' }],
]) {
  describe(`client with ${alg} ID tokens`, () => {
    it(`signs in and gets an ${alg} ID token that verifies against the JWKS`, async () => {
      const user = await newUser(alg === 'ES256' ? 'Cy' : 'Dee');
      const registered = await createClient(dataDir, {
        name: `${alg} app`,
        type: 'confidential',
        redirectUri,
        postLogoutRedirectUri,
        alg,
      });
      const config = await configFor(registered, {
        auth: client.ClientSecretBasic(registered.clientSecret),
        alg,
      });
      const ua = new UserAgent(server.base);
      const req = await authorize(config, ua);
      const location = await phoneAndCode(ua, req.first, user);
      checkCallback(location, req.state);
      // openid-client verifies the signature (enableNonRepudiationChecks) with the alg the
      // client registered; jose verifies it again, independently.
      const tokens = await client.authorizationCodeGrant(config, location, {
        pkceCodeVerifier: req.pkceCodeVerifier,
        expectedState: req.state,
        expectedNonce: req.nonce,
      });
      checkIdToken(tokens, { registered, user, nonce: req.nonce, alg });
      const header = await verifyWithJose(tokens.id_token, { registered, alg });
      const { keys } = await (await fetch(config.serverMetadata().jwks_uri)).json();
      const key = keys.find((k) => k.kid === header.kid);
      assert.ok(key, `the JWKS has the key ${header.kid}`);
      assert.equal(key.kty, jwk.kty);
      assert.equal(key.crv, jwk.crv);
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      if (refreshed.id_token) assert.equal(decodeJwt(refreshed.id_token).header.alg, alg);
    });
  });
}
