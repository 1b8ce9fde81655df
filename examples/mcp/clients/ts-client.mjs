// An agent built on the official MCP TypeScript SDK, meeting the MCP server
// for the first time: no token, and either no client id (it registers
// itself) or, given CLIENT_METADATA_URL, the URL of its Client ID Metadata
// Document as its client id (the SDK's `clientMetadataUrl`, used when the
// authorization server says client_id_metadata_document_supported). Driven by
// examples/mcp/tests/sdk_clients.rs over a line protocol:
//   out "AUTHORIZE <url>"  the user must approve; in: the callback URL
//   out "REVOKE <client>"  the test revokes the app; in: "revoked"
//   out "RESULT <json>"    an observation for the test to check
//   out "DONE"
// Tokens are never printed: results say whether they are equal, not what
// they are.
//
// Usage: node ts-client.mjs MCP_URL [CLIENT_METADATA_URL]
import readline from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  auth,
  discoverAuthorizationServerMetadata,
  refreshAuthorization,
  UnauthorizedError
} from '@modelcontextprotocol/sdk/client/auth.js';

const mcpUrl = new URL(process.argv[2]);
const clientMetadataUrl = process.argv[3];
const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function ask(tag, payload) {
  console.log(`${tag} ${payload}`);
  const { value, done } = await input.next();
  if (done) throw new Error(`no answer to ${tag}`);
  return value.trim();
}
const report = (step, data) => console.log(`RESULT ${JSON.stringify({ step, ...data })}`);

// What went over the wire: method, URL, status, and the challenge of a
// 401/403. Headers and bodies carry secrets, so nothing else.
const http = [];
async function recordingFetch(url, init) {
  const r = await fetch(url, init);
  const www = r.status === 401 || r.status === 403 ? r.headers.get('www-authenticate') : undefined;
  http.push({ method: init?.method ?? 'GET', url: String(url), status: r.status, www });
  return r;
}

// An in-memory OAuthClientProvider: what a real agent keeps in its
// keychain. The "browser" is the test, reached through ask().
class Provider {
  // Also in the metadata document the test serves.
  redirectUrl = 'http://127.0.0.1:33418/callback';
  // The SDK uses this URL as the client id instead of registering, when
  // the authorization server supports metadata documents.
  clientMetadataUrl = clientMetadataUrl;
  callback = undefined;
  reauthorizationAsked = false;
  revoked = false;
  get clientMetadata() {
    return {
      client_name: 'TS SDK test agent',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none'
    };
  }
  clientInformation() { return this.client; }
  saveClientInformation(c) { this.client = c; }
  tokens() { return this.saved; }
  saveTokens(t) { this.saved = t; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all') this.client = undefined;
  }
  async redirectToAuthorization(url) {
    if (this.revoked) {
      // After revocation the user is not asked again in this test: the
      // point is that the old grant no longer works.
      this.reauthorizationAsked = true;
      return;
    }
    this.callback = new URL(await ask('AUTHORIZE', url.href));
  }
  code() {
    const e = this.callback.searchParams.get('error');
    if (e) throw new Error(`authorization failed: ${e}`);
    return this.callback.searchParams.get('code');
  }
}

const provider = new Provider();

// Connects, running the SDK's whole OAuth flow on the first 401:
// metadata discovery, registration (or the metadata document URL as the
// client id), authorization, code exchange.
async function connect() {
  const open = async () => {
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: recordingFetch });
    const client = new Client({ name: 'latchkey-ts-test', version: '1.0.0' });
    await client.connect(transport);
    return { client, transport };
  };
  try {
    return await open();
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: recordingFetch });
    await transport.finishAuth(provider.code());
    return await open();
  }
}

const text = (r) => JSON.parse(r.content[0].text);

let { client } = await connect();
report('connected', { client_id: provider.client.client_id, http });
const me = text(await client.callTool({ name: 'whoami', arguments: {} }));
report('whoami', me);
report('list_zones', text(await client.callTool({ name: 'list_zones', arguments: {} })));

// Refresh from several tasks at once, as several windows of one agent do:
// the authorization server coalesces them onto one successor.
const prm = await (await fetch(new URL('/.well-known/oauth-protected-resource/mcp', mcpUrl))).json();
const issuer = prm.authorization_servers[0];
const metadata = await discoverAuthorizationServerMetadata(issuer);
const before = provider.tokens();
const successors = await Promise.all(
  [1, 2, 3, 4].map(() =>
    refreshAuthorization(issuer, {
      metadata,
      clientInformation: provider.client,
      refreshToken: before.refresh_token,
      resource: mcpUrl
    })
  )
);
const same = (k) => successors.every((s) => s[k] === successors[0][k]);
report('refresh', {
  tasks: successors.length,
  had_refresh_token: Boolean(before.refresh_token),
  same_access_token: same('access_token'),
  same_refresh_token: same('refresh_token'),
  rotated: successors[0].refresh_token !== before.refresh_token && successors[0].access_token !== before.access_token
});
provider.saveTokens({ ...successors[0], issuer: before.issuer });
report('whoami_after_refresh', text(await client.callTool({ name: 'whoami', arguments: {} })));

// Step-up. SDK 1.32.2 answers a 403 insufficient_scope by refreshing
// when it holds a refresh token (the refreshed token has the old scope)
// and then gives up; so after its attempt this agent re-authorizes
// explicitly for the scope the challenge names.
const edit = { name: 'edit_dns_record', arguments: { zone: 'example.com', name: 'www', type: 'A', value: '192.0.2.7' } };
let sdkStepUp;
try {
  await client.callTool(edit);
  sdkStepUp = 'succeeded';
} catch (e) {
  sdkStepUp = String(e.message ?? e);
}
const challenge = [...http].reverse().find((h) => h.status === 403)?.www ?? '';
const wanted = /scope="([^"]*)"/.exec(challenge)?.[1];
report('step_up_challenge', { sdk_attempt: sdkStepUp, challenge, scope: wanted });
provider.invalidateCredentials('tokens');
const stepUp = await auth(provider, { serverUrl: mcpUrl, scope: wanted, fetchFn: recordingFetch });
if (stepUp !== 'REDIRECT') throw new Error(`expected a new authorization, got ${stepUp}`);
await auth(provider, { serverUrl: mcpUrl, scope: wanted, authorizationCode: provider.code(), fetchFn: recordingFetch });
report('step_up', { scope: provider.tokens().scope, edit: text(await client.callTool(edit)) });

// The user revokes the app on the connected-apps page; the next call is
// refused, and the SDK can only ask the user to authorize again.
await ask('REVOKE', provider.client.client_id);
provider.revoked = true;
const mark = http.length;
let after;
try {
  await client.callTool({ name: 'whoami', arguments: {} });
  after = { refused: false };
} catch (e) {
  after = { refused: true, unauthorized: e instanceof UnauthorizedError, error: String(e.message ?? e) };
}
report('after_revoke', { ...after, reauthorization_asked: provider.reauthorizationAsked, http: http.slice(mark) });
await client.close().catch(() => {});
// Everything the SDK sent through the transport and auth(), from the start.
report('wire', { http });
console.log('DONE');
process.exit(0);
