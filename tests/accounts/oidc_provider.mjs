// An independent OpenID Connect provider for the federation tests: the npm package oidc-provider.
// Started by a pytest fixture: reads its keys and client from OIDC_TEST_CONFIG (JSON), listens on a free
// localhost port and prints "listening <issuer>". Its login page asks only for the national number, as a
// stand-in for the State portal's strong authentication; tests may also post the level reached (acr), the
// methods used (amr, comma-separated) and another account at the provider ("variant": same national number,
// another subject).
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OIDC_TEST_CONFIG);
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [config.client],
  jwks: { keys: [config.key] },
  cookies: { keys: ['opendsp-test-cookie-key'] },
  claims: { openid: ['sub', config.claim, 'acr', 'amr'], acr: null, amr: null, auth_time: null },
  acrValues: config.acrValues || [],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  async findAccount(ctx, id) {
    // "<national number>~<variant>": another account at the provider for the same national number.
    return { accountId: id, async claims() { return { sub: `sub-${id}`, [config.claim]: id.split('~')[0] }; } };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

const page = (uid) => `<!doctype html><form method="post" action="/interaction/${uid}">
<label for="login">national number</label><input id="login" name="login"><button>log in</button></form>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  const match = req.url.match(/^\/interaction\/([^/?]+)/);
  if (!match) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.setHeader('content-type', 'text/html');
      return res.end(page(details.uid));
    }
    const form = await readForm(req);
    const login = form.get('variant') ? `${form.get('login')}~${form.get('variant')}` : form.get('login');
    const acr = form.get('acr') || undefined;
    const amr = form.get('amr') ? form.get('amr').split(',') : undefined;
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope('openid');
    grant.addOIDCClaims([config.claim]);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId: login, acr, amr }, consent: { grantId } },
      { mergeWithLastSubmission: false });
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
});
console.log(`listening ${issuer}`);
