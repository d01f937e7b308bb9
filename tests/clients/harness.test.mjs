// The harness itself, through textid's JSON sign-in API: `textid serve` on a free port,
// CLI provisioning on the same data directory while it runs, SMS delivery to the loopback
// webhook receiver, the origin-bound code on the last line. When this fails, the other
// suites' failures are about the harness, not about OpenID Connect or the pages.

import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  cli,
  codeOf,
  createPhoneUser,
  startTextid,
  startWebhookReceiver,
  tempDataDir,
} from './harness.mjs';

let receiver;
let server;
let dataDir;

before(async () => {
  receiver = await startWebhookReceiver();
  dataDir = tempDataDir('harness');
  server = await startTextid({ name: 'harness', dataDir, webhookUrl: receiver.url });
});

after(async () => {
  await server?.stop();
  await receiver?.close();
  if (dataDir && !process.env.KEEP_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
});

async function post(path, body) {
  const res = await fetch(`${server.base}/default/api/v1/sign-in/sms${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

it('textid serve listens where it said, with the public URL as issuer origin', () => {
  assert.match(server.base, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(server.issuer, `${server.base}/default/v2.0`);
});

it('provisions through the CLI and signs in with the code from the webhook', async () => {
  await cli(dataDir, ['policy', 'sms', '--state', 'enabled']);
  const user = await createPhoneUser(dataDir, {
    upn: 'ana@contoso.example',
    displayName: 'Ana',
    number: '+1 425 555 0101',
  });
  const start = await post('', { phoneNumber: '+1 425 555 0101' });
  assert.equal(start.status, 202, JSON.stringify(start.body));
  const msg = await receiver.next('+14255550101');
  assert.equal(msg.channel, 'sms');
  assert.equal(msg.kind, 'signInCode');
  assert.equal(msg.tenant, 'default');
  assert.equal(msg.headers['webhook-id'], msg.id);
  const verify = await post('/verify', { flowId: start.body.flowId, code: codeOf(msg) });
  assert.equal(verify.status, 200, JSON.stringify(verify.body));
  assert.equal(verify.body.userId, user.id);
});
