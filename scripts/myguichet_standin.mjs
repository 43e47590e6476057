// A stand-in for the State's portal (MyGuichet.lu) on a developer's machine: the npm package oidc-provider, the
// independent OpenID Connect provider the federation tests use too. `make run` starts it beside the server, so
// that "Log in with MyGuichet.lu" works with the demo's people; never run it anywhere else.
//
// It reads the platform's own settings from the environment, so the two always agree:
//   OPENDSP_OIDC_CLIENT_ID, OPENDSP_OIDC_CLIENT_SECRET  the one client it knows (the platform)
//   OPENDSP_PUBLIC_BASE_URL                              the platform's address (its callback is registered)
//   OPENDSP_OIDC_ACR_VALUES                              the first level is the one it reports for a login
//   OPENDSP_OIDC_NATIONAL_NUMBER_CLAIM                   the ID token claim carrying the national number
// and, of its own:
//   STANDIN_PORT        the port on 127.0.0.1 (0: any free one)
//   STANDIN_IDENTITIES  the demo's identities file (var/demo/identities.json): its persons are the accounts, the
//                       demo's published password is theirs, read at each login
// It prints "listening <issuer>" once it listens. Its signing key and cookie keys are drawn at each start.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const env = process.env;
const clientId = env.OPENDSP_OIDC_CLIENT_ID || 'opendsp-demo';
const clientSecret = env.OPENDSP_OIDC_CLIENT_SECRET;
const baseUrl = (env.OPENDSP_PUBLIC_BASE_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
const claim = env.OPENDSP_OIDC_NATIONAL_NUMBER_CLAIM || 'national_number';
const levels = (env.OPENDSP_OIDC_ACR_VALUES || '').split(/\s+/).filter(Boolean);
const identitiesPath = env.STANDIN_IDENTITIES || 'var/demo/identities.json';
if (!clientSecret || clientSecret.length < 32) {
  console.error('OPENDSP_OIDC_CLIENT_SECRET (32 characters or more) is needed');
  process.exit(2);
}

function identities() {
  // Read at each login: the demo may be loaded (or reloaded) after the stand-in started.
  try {
    return JSON.parse(fs.readFileSync(identitiesPath, 'utf8'));
  } catch {
    return { persons: [], password: null };
  }
}

function sameText(a, b) {
  const left = Buffer.from(String(a));
  const right = Buffer.from(String(b));
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `standin-${crypto.randomUUID()}`, use: 'sig', alg: 'RS256' };

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(env.STANDIN_PORT || 8010), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [`${baseUrl}/login/federated/callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub', claim, 'acr', 'amr'], acr: null, amr: null, auth_time: null },
  acrValues: levels,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: `standin-${id}`, [claim]: id }; } };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (uid, error) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>MyGuichet.lu stand-in</title><link rel="icon" href="data:,"></head>
<body style="font-family: sans-serif; max-width: 30rem; margin: 2rem auto; padding: 0 1rem">
<main>
<h1>MyGuichet.lu (stand-in for the demo)</h1>
<p>Not the State's portal: a local OpenID Connect provider for trying OpenDSP. Log in as a person of the demo
with their national number and the demo's password.</p>
${error ? `<p role="alert"><strong>${escape(error)}</strong></p>` : ''}
<form method="post" action="/interaction/${escape(uid)}">
<p><label for="login">National number</label><br><input id="login" name="login" inputmode="numeric" autocomplete="username" required></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Log in</button></p>
</form>
</main></body></html>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 8192) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  const match = req.url.match(/^\/interaction\/([^/?]+)$/);
  if (!match) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    if (req.method === 'GET') return res.end(page(details.uid));
    const form = await readForm(req);
    const login = (form.get('login') || '').replace(/\D/g, '');
    const known = identities();
    const person = (known.persons || []).find((p) => p.national_number === login);
    if (!person || !known.password || !sameText(form.get('password') || '', known.password)) {
      res.statusCode = 401;
      return res.end(page(details.uid, 'Unknown national number or wrong password.'));
    }
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope('openid');
    grant.addOIDCClaims([claim]);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, {
      login: { accountId: login, acr: levels[0], amr: ['pwd'] },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  } catch (error) {
    res.statusCode = 400;
    res.end(`the login could not go on: ${escape(error.message)}`);
  }
});
console.log(`listening ${issuer}`);
