// An independent OpenID Connect provider for the federation tests: the npm package oidc-provider.
// Started by a pytest fixture: reads its keys and client from OIDC_TEST_CONFIG (JSON), listens on a free
// localhost port and prints "listening <issuer>". Its login page asks only for the national number, as a
// stand-in for the State portal's strong authentication.
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
  claims: { openid: ['sub', config.claim] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: `sub-${id}`, [config.claim]: id }; } };
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
    const login = (await readForm(req)).get('login');
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope('openid');
    grant.addOIDCClaims([config.claim]);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } },
      { mergeWithLastSubmission: false });
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
});
console.log(`listening ${issuer}`);
