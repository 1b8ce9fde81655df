//! Two instances of the example on one PostgreSQL database share browser
//! sessions: sign in on one, consent on the other, exchange on the first.
//! No sticky sessions needed behind a load balancer.
use crate::common::*;
use latchkey_demo::config::Config;
use tokio::net::TcpListener;

/// An instance on `url` whose issuer is `issuer` (the load balancer's
/// address in production), keys in `data_dir` (shared: every instance
/// must hash with the same server key).
async fn instance(
    url: &str,
    issuer: &str,
    data_dir: &std::path::Path,
    clients: &std::path::Path,
    listener: TcpListener,
) -> crate::server::Running {
    let mut config = Config::defaults();
    config.addr = listener.local_addr().unwrap();
    config.issuer = issuer.to_owned();
    config.data_dir = data_dir.to_owned();
    config.clients_file = Some(clients.to_owned());
    config.database_url = Some(url.to_owned());
    latchkey::keys::KeyDir::open(&config.data_dir).expect("key dir");
    let store = latchkey_demo::store::open(data_dir, Some(url))
        .await
        .expect("postgres")
        .store;
    let app = latchkey_demo::prepare(&config, store)
        .await
        .expect("prepare");
    crate::server::serve(app, listener.into_std().unwrap(), false)
}

#[tokio::test]
async fn sign_in_on_one_instance_consent_on_the_other() {
    let Some(db) = PgDatabase::create("lk_shared_sessions").await else {
        return;
    };
    let url = db.url.clone();

    let dir = tempfile::tempdir().unwrap();
    let clients = dir.path().join("clients.json");
    std::fs::write(&clients, seed_json().to_string()).unwrap();
    let a_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = format!("http://{}", a_listener.local_addr().unwrap());
    let b = format!("http://{}", b_listener.local_addr().unwrap());
    let data = dir.path().join("data");
    let ta = instance(&url, &a, &data, &clients, a_listener).await;
    let tb = instance(&url, &a, &data, &clients, b_listener).await;

    // One browser (cookies are per host, not per port: both instances see
    // the same session cookie, as behind one load balancer).
    let http = browser_http();
    let auth = format!(
        "{a}/oauth/authorize?response_type=code&client_id={WEB_ID}&redirect_uri={}&scope=profile%3Aread\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=s1",
        latchkey::http::encode_component(REDIRECT),
    );
    let r = http.get(&auth).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let login = location(&r, &a);
    assert!(login.starts_with(&format!("{a}/login")), "{login}");
    // Sign in on A.
    let page = http.get(&login).send().await.unwrap().text().await.unwrap();
    let r = http
        .post(format!("{a}/login"))
        .form(&[
            ("csrf", hidden(&page, "csrf")),
            ("next", hidden(&page, "next")),
            ("username", "alice".to_owned()),
            ("password", "alice-pass".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let consent_path = location(&r, &a);
    let consent_path = consent_path.trim_start_matches(&a);
    assert!(
        consent_path.starts_with("/oauth/consent?challenge="),
        "{consent_path}"
    );
    // The consent page and decision on B: same session, same binding.
    let r = http.get(format!("{b}{consent_path}")).send().await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "B does not know the session signed in on A"
    );
    let page = r.text().await.unwrap();
    let mut form = vec![
        ("csrf", hidden(&page, "csrf")),
        ("challenge", hidden(&page, "challenge")),
        ("decision", "allow".to_owned()),
    ];
    for s in ticked_scopes(&page) {
        form.push(("scope", s));
    }
    let r = http
        .post(format!("{b}/oauth/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(REDIRECT), "{to}");
    let code = query_param(&to, "code").expect("code");
    // The code works on A.
    let r = plain_http()
        .post(format!("{a}/oauth/token"))
        .basic_auth(WEB_ID, Some(WEB_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    drop((ta, tb));
    db.drop_now().await;
}
