//! A full OAuth 2.1 flow in process, printing each step:
//! register a client, authorize with PKCE, log in, consent, exchange the
//! code, refresh, retry the refresh (coalesced), introspect, revoke.
//!
//! Run with `cargo run -p latchkey --example walkthrough`.
//! Tokens are printed shortened: nothing usable is echoed.

use std::sync::Arc;

use latchkey::clients::ClientRegistration;
use latchkey::entropy::{Entropy, SystemEntropy};
use latchkey::http::{HttpRequest, Params};
use latchkey::{
    AuthorizeOutcome, ConsentDecision, Engine, EngineConfig, Keyring, MemoryStore, Principal,
    ScopeRegistry,
};

fn short(token: &str) -> String {
    format!("{}…", &token[..token.len().min(12)])
}

fn param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let params = Params::parse(query).expect("well-formed redirect");
    params
        .single(name)
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scopes = ScopeRegistry::new()
        .register("profile:read", "Read your profile", &[])?
        .register("dns:read", "Read DNS records", &[])?
        .register("dns:edit", "Edit DNS records", &["dns:read"])?;
    let config = EngineConfig::new("https://auth.example", scopes);
    let keys = Keyring::generate(&SystemEntropy::new())?;
    let engine = Engine::new(Arc::new(MemoryStore::new()), config, keys);

    println!("1. register a confidential client owned by account 'acme'");
    let app = engine
        .register_client(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            ClientRegistration {
                owner: "acme".into(),
                name: "Acme DNS Manager".into(),
                redirect_uris: vec!["https://app.example/callback".into()],
                scopes: vec!["profile:read".into(), "dns:edit".into()],
                ..Default::default()
            },
        )
        .await?;
    let secret = app.secret.expect("confidential clients get a secret");
    let basic = {
        use base64::Engine as _;
        let raw = format!("{}:{}", app.client.id, secret.expose());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    };
    println!(
        "   client_id={} secret={} (shown once, stored as a keyed hash)",
        app.client.id,
        short(secret.expose())
    );

    println!("2. the app sends the user to /authorize with a PKCE S256 challenge");
    let mut raw = [0u8; 32];
    SystemEntropy::new().fill(&mut raw)?;
    let verifier = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    };
    let request = HttpRequest::get(&[
        ("response_type", "code"),
        ("client_id", &app.client.id),
        ("redirect_uri", "https://app.example/callback"),
        ("scope", "dns:edit profile:read"),
        ("state", "xyz"),
        ("code_challenge", &latchkey::pkce::s256(&verifier)),
        ("code_challenge_method", "S256"),
    ]);
    let browser = "cookie-of-this-browser";
    let AuthorizeOutcome::LoginRequired { challenge } =
        engine.authorize(&request, None, browser).await
    else {
        return Err("expected a login step".into());
    };
    println!(
        "   → login required (challenge {})",
        short(challenge.expose())
    );

    println!("3. the host logs alice in and asks for consent");
    let alice = Principal {
        subject: "alice".into(),
        account: "acme".into(),
    };
    let AuthorizeOutcome::ConsentRequired(prompt) = engine
        .resume(
            challenge.expose(),
            browser,
            &alice,
            &latchkey::Source::default(),
        )
        .await
    else {
        return Err("expected a consent step".into());
    };
    println!(
        "   consent screen: '{}' wants to reach {}:",
        prompt.client_name, prompt.redirect_host
    );
    for s in &prompt.scopes {
        println!("     - {}: {}", s.name, s.description);
    }

    println!("4. alice approves");
    let AuthorizeOutcome::Redirect(location) = engine
        .accept(
            prompt.challenge.expose(),
            browser,
            &alice,
            ConsentDecision {
                scopes: None,
                remember: true,
            },
            &latchkey::Source::default(),
        )
        .await
    else {
        return Err("expected a redirect".into());
    };
    let code = param(&location, "code");
    println!(
        "   → redirect with code={} state={} iss={}",
        short(&code),
        param(&location, "state"),
        param(&location, "iss")
    );

    println!("5. the app exchanges the code with its verifier");
    let exchange = HttpRequest::form_post(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "https://app.example/callback"),
        ("code_verifier", &verifier),
    ])
    .with_header("Authorization", &basic);
    let tokens = engine.token(&exchange).await.json_body();
    let access = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!(
        "   → access_token={} refresh_token={} scope='{}' expires_in={}",
        short(&access),
        short(&refresh),
        tokens["scope"].as_str().unwrap_or_default(),
        tokens["expires_in"]
    );

    println!("6. the app refreshes, and a second window retries with the same refresh token");
    let refresh_req =
        HttpRequest::form_post(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .with_header("Authorization", &basic);
    let first = engine.token(&refresh_req).await.json_body();
    let retry = engine.token(&refresh_req).await.json_body();
    let same = first["access_token"] == retry["access_token"]
        && first["refresh_token"] == retry["refresh_token"];
    println!(
        "   → first  access_token={}",
        short(first["access_token"].as_str().unwrap_or_default())
    );
    println!(
        "   → retry  access_token={} (identical: {same}; family still alive)",
        short(retry["access_token"].as_str().unwrap_or_default())
    );
    if !same {
        return Err("coalescing failed".into());
    }

    let new_access = first["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let new_refresh = first["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!("7. a resource server introspects the new access token");
    let introspect =
        |t: &str| HttpRequest::form_post(&[("token", t)]).with_header("Authorization", &basic);
    let info = engine
        .introspect(&introspect(&new_access))
        .await
        .json_body();
    println!(
        "   → active={} sub={} scope='{}'",
        info["active"],
        info["sub"],
        info["scope"].as_str().unwrap_or_default()
    );

    println!("8. the app revokes its refresh token: the whole family stops working");
    let revoke =
        HttpRequest::form_post(&[("token", &new_refresh)]).with_header("Authorization", &basic);
    println!("   → revoke status {}", engine.revoke(&revoke).await.status);
    let after = engine
        .introspect(&introspect(&new_access))
        .await
        .json_body();
    println!("   → access token active={}", after["active"]);

    println!("9. the outbox recorded what others must hear about:");
    for e in engine.poll_events("walkthrough", 100).await? {
        println!("     #{} {}", e.seq, serde_json::to_string(&e.kind)?);
    }
    Ok(())
}
