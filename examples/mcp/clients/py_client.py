"""An agent built on the official MCP Python SDK, meeting the MCP server for
the first time: no token, and either no client id (it registers itself) or,
given CLIENT_METADATA_URL, the URL of its Client ID Metadata Document as its
client id (the SDK's `client_metadata_url`, used when the authorization
server says client_id_metadata_document_supported). Driven by
examples/mcp/tests/sdk_clients.rs over the same line protocol as
ts-client.mjs (AUTHORIZE / REVOKE / RESULT / DONE). Tokens are never
printed.

Usage: python py_client.py MCP_URL [CLIENT_METADATA_URL]
"""

import asyncio
import json
import logging
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata, OAuthToken

MCP_URL = sys.argv[1]
CLIENT_METADATA_URL = sys.argv[2] if len(sys.argv) > 2 else None


def ask(tag, payload):
    print(f"{tag} {payload}", flush=True)
    line = sys.stdin.readline()
    if not line:
        raise RuntimeError(f"no answer to {tag}")
    return line.strip()


def report(step, **data):
    print("RESULT " + json.dumps({"step": step, **data}), flush=True)


class Memory:
    """Token storage: what a real agent keeps in its keychain."""

    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, info):
        self.client_info = info


class Browser:
    """The user's browser is the test, reached through ask()."""

    def __init__(self):
        self.callback = None
        self.revoked = False
        self.reauthorization_asked = False

    async def redirect(self, url):
        if self.revoked:
            self.reauthorization_asked = True
            return
        self.callback = await asyncio.to_thread(ask, "AUTHORIZE", url)

    async def wait_for_callback(self):
        if self.revoked:
            raise RuntimeError("re-authorization required after revocation")
        q = parse_qs(urlparse(self.callback).query)
        if "error" in q:
            raise RuntimeError(f"authorization failed: {q['error'][0]}")
        return AuthorizationCodeResult(
            code=q["code"][0], state=q.get("state", [None])[0], iss=q.get("iss", [None])[0]
        )


# What went over the wire: method, URL, status and the challenge of a
# 401/403; headers and bodies carry secrets, so nothing else.
http = []


async def record(response):
    www = response.headers.get("www-authenticate") if response.status_code in (401, 403) else None
    http.append(
        {"method": response.request.method, "url": str(response.request.url), "status": response.status_code, "www": www}
    )


def text(result):
    return json.loads(result.content[0].text)


async def main():
    storage = Memory()
    browser = Browser()
    provider = OAuthClientProvider(
        server_url=MCP_URL,
        client_metadata=OAuthClientMetadata(
            client_name="Python SDK test agent",
            # Also in the metadata document the test serves.
            redirect_uris=["http://127.0.0.1:33419/callback"],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.wait_for_callback,
        client_metadata_url=CLIENT_METADATA_URL,
    )
    async with httpx2.AsyncClient(auth=provider, event_hooks={"response": [record]}) as http_client:
        async with Client(streamable_http_client(MCP_URL, http_client=http_client)) as client:
            report("connected", client_id=storage.client_info.client_id, http=list(http))
            report("whoami", **text(await client.call_tool("whoami", {})))
            report("list_zones", **text(await client.call_tool("list_zones", {})))

            # Refresh from several tasks at once: the SDK's own refresh
            # request, sent four times concurrently, as four processes
            # sharing this token store would. The authorization server
            # coalesces them onto one successor.
            before = storage.tokens
            request = await provider._refresh_token()  # the SDK's refresh request
            async with httpx2.AsyncClient() as raw:
                answers = await asyncio.gather(
                    *[raw.post(str(request.url), content=request.content, headers=request.headers) for _ in range(4)]
                )
            successors = [OAuthToken.model_validate_json(a.content) for a in answers]
            report(
                "refresh",
                tasks=len(successors),
                had_refresh_token=before.refresh_token is not None,
                same_access_token=len({s.access_token for s in successors}) == 1,
                same_refresh_token=len({s.refresh_token for s in successors}) == 1,
                rotated=successors[0].refresh_token != before.refresh_token
                and successors[0].access_token != before.access_token,
            )
            assert await provider._handle_refresh_response(answers[0])
            report("whoami_after_refresh", **text(await client.call_tool("whoami", {})))

            # Step-up: the SDK answers 403 insufficient_scope itself, by
            # re-authorizing for the scopes it had plus the challenged ones.
            mark = len(http)
            edit = await client.call_tool(
                "edit_dns_record", {"zone": "example.com", "name": "www", "type": "A", "value": "192.0.2.8"}
            )
            report("step_up", scope=storage.tokens.scope, edit=text(edit), http=http[mark:])

        # The user revokes the app; the next connection is refused. (A new
        # one: the refusal surfaces from the transport's task group, which
        # ends the connection it happens on.)
        await asyncio.to_thread(ask, "REVOKE", storage.client_info.client_id)
        browser.revoked = True
        # The SDK logs the refused re-authorization with a traceback; the
        # test checks the refusal itself.
        logging.getLogger("mcp.client.auth").setLevel(logging.CRITICAL)
        mark = len(http)
        try:
            async with Client(streamable_http_client(MCP_URL, http_client=http_client)) as again:
                await again.call_tool("whoami", {})
            after = {"refused": False}
        except Exception as e:  # noqa: BLE001 - any failure is the refusal, checked by the test
            after = {"refused": True, "error": repr(e)[:200]}
        report("after_revoke", reauthorization_asked=browser.reauthorization_asked, http=http[mark:], **after)
    # Everything the SDK's HTTP client sent, from the start.
    report("wire", http=http)
    print("DONE", flush=True)


asyncio.run(main())
