//! HTTP load generator against the example server (`examples/axum`) on
//! loopback: throughput and p50/p95/p99 latency at fixed concurrencies for
//! introspection, client_credentials, refresh rotation (every request
//! presents its worker's live refresh token) and whole authorization-code
//! flows (authorize, sign in, consent, exchange), one keep-alive
//! connection per worker.
//!
//! Bounded: each (scenario, concurrency) cell stops after `--seconds` or
//! `--max-requests`, whichever comes first, and only loopback addresses
//! are accepted.
//!
//! ```text
//! loadgen --write-clients FILE      # the clients file to start the server with
//! loadgen --base http://127.0.0.1:PORT [--scenarios introspection,client_credentials,refresh,code_flow]
//!         [--concurrency 1,16,64] [--seconds 5] [--max-requests 200000] [--label redb]
//! ```
//! The server must run with `--clients FILE --no-rate-limits`
//! (`benches/http.sh` does all of it).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use latchkey::http::{encode_component, Params};
use latchkey_benches::http1::{loopback, Conn, Response};
use latchkey_benches::{median, BenchError, CHALLENGE, VERIFIER};

const CLIENT_ID: &str = "bench-web";
const CLIENT_SECRET: &str = "bench-web-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const REDIRECT: &str = "http://127.0.0.1/callback";
const SCOPE: &str = "profile:read dns:read offline_access";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Introspection,
    ClientCredentials,
    Refresh,
    CodeFlow,
}

impl Scenario {
    fn parse(s: &str) -> Result<Self, BenchError> {
        Ok(match s {
            "introspection" => Scenario::Introspection,
            "client_credentials" => Scenario::ClientCredentials,
            "refresh" => Scenario::Refresh,
            "code_flow" => Scenario::CodeFlow,
            other => return Err(format!("unknown scenario {other:?}").into()),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Scenario::Introspection => "introspection",
            Scenario::ClientCredentials => "client_credentials",
            Scenario::Refresh => "refresh rotation",
            Scenario::CodeFlow => "code flow (6 requests)",
        }
    }
}

struct Args {
    base: String,
    scenarios: Vec<Scenario>,
    concurrency: Vec<usize>,
    seconds: f64,
    max_requests: u64,
    label: String,
    user: String,
    password: String,
}

fn parse_args() -> Result<Option<Args>, BenchError> {
    let mut a = Args {
        base: String::new(),
        scenarios: vec![
            Scenario::Introspection,
            Scenario::ClientCredentials,
            Scenario::Refresh,
            Scenario::CodeFlow,
        ],
        concurrency: vec![1, 16, 64],
        seconds: 5.0,
        max_requests: 200_000,
        label: "server".into(),
        user: "alice".into(),
        password: "alice-pass".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--write-clients" => {
                std::fs::write(value()?, clients_json())?;
                return Ok(None);
            }
            "--base" => a.base = value()?,
            "--scenarios" => {
                a.scenarios = value()?
                    .split(',')
                    .map(Scenario::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--concurrency" => {
                a.concurrency = value()?
                    .split(',')
                    .map(|c| c.parse().map_err(|_| format!("bad concurrency {c:?}")))
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" => a.seconds = value()?.parse()?,
            "--max-requests" => a.max_requests = value()?.parse()?,
            "--label" => a.label = value()?,
            "--user" => a.user = value()?,
            "--password" => a.password = value()?,
            other => return Err(format!("unknown flag {other:?}").into()),
        }
    }
    if a.base.is_empty() {
        return Err("--base http://127.0.0.1:PORT is required".into());
    }
    if a.seconds <= 0.0 || a.seconds > 600.0 {
        return Err("--seconds must be in (0, 600]".into());
    }
    Ok(Some(a))
}

/// The client the server must be seeded with.
fn clients_json() -> String {
    serde_json::json!([{
        "id": CLIENT_ID, "owner": "demo", "name": "Load generator",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scopes": ["profile:read", "dns:read", "offline_access"],
        "auth_method": "client_secret_basic", "visibility": "private",
        "secret": CLIENT_SECRET
    }])
    .to_string()
}

/// Endpoint paths from the server's metadata (RFC 8414).
#[derive(Clone)]
struct Paths {
    authorize: String,
    token: String,
    introspect: String,
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/".into(), |i| rest[i..].to_owned())
}

async fn discover(addr: SocketAddr) -> Result<Paths, BenchError> {
    let r = Conn::new(addr)
        .send("GET", "/.well-known/oauth-authorization-server", &[], b"")
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&r.body)?;
    let get = |k: &str| -> Result<String, BenchError> {
        Ok(path_of(
            v[k].as_str()
                .ok_or_else(|| format!("metadata has no {k}"))?,
        ))
    };
    Ok(Paths {
        authorize: get("authorization_endpoint")?,
        token: get("token_endpoint")?,
        introspect: get("introspection_endpoint")?,
    })
}

struct Ctx {
    paths: Paths,
    basic: String,
    user: String,
    password: String,
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn json(r: &Response) -> Result<serde_json::Value, BenchError> {
    if r.status != 200 {
        return Err(format!("status {}: {}", r.status, r.text()).into());
    }
    Ok(serde_json::from_slice(&r.body)?)
}

/// A form POST authenticated as the benchmark's client (HTTP Basic), and
/// its JSON answer, which must be a 200.
async fn client_post(
    c: &Ctx,
    conn: &mut Conn,
    path: &str,
    body: &[u8],
) -> Result<serde_json::Value, BenchError> {
    let r = conn
        .send("POST", path, &[FORM, ("authorization", &c.basic)], body)
        .await?;
    json(&r)
}

fn hidden(html: &str, name: &str) -> Result<String, BenchError> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&needle)
        .ok_or_else(|| format!("no field {name} in the page"))?
        + needle.len();
    let end = html[start..].find('"').ok_or("no closing quote")? + start;
    Ok(html[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

fn ticked_scopes(html: &str) -> Vec<String> {
    let needle = "name=\"scope\" value=\"";
    html.match_indices(needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            let value = &rest[..rest.find('"')?];
            rest[..rest.find('>')?]
                .contains("checked")
                .then(|| value.to_owned())
        })
        .collect()
}

/// A redirect's target as a path on this server, or the absolute URL.
fn location(r: &Response) -> Result<String, BenchError> {
    if !(300..400).contains(&r.status) {
        return Err(format!("expected a redirect, got {}: {}", r.status, r.text()).into());
    }
    let l = r.header("location").ok_or("redirect without Location")?;
    Ok(match l.strip_prefix("http://") {
        Some(rest) if !l.starts_with(REDIRECT) => {
            rest.find('/').map_or("/".into(), |i| rest[i..].to_owned())
        }
        _ => l.to_owned(),
    })
}

struct Jar(Vec<String>);

impl Jar {
    fn take(&mut self, r: &Response) {
        for c in r.cookies() {
            let name = c.split('=').next().unwrap_or("");
            self.0.retain(|k| k.split('=').next() != Some(name));
            self.0.push(c.to_owned());
        }
    }

    fn header(&self) -> String {
        self.0.join("; ")
    }
}

/// One whole code flow as a browser and the client drive it: returns
/// (access token, refresh token) and how many requests it took.
async fn code_flow(c: &Ctx, conn: &mut Conn) -> Result<(String, String, u32), BenchError> {
    let mut jar = Jar(vec![]);
    let mut n = 0u32;
    let query = latchkey::http::encode_form(&[
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("scope", SCOPE),
        ("state", "s"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let r = conn
        .send("GET", &format!("{}?{query}", c.paths.authorize), &[], b"")
        .await?;
    n += 1;
    jar.take(&r);
    let login = location(&r)?;
    let r = conn
        .send("GET", &login, &[("cookie", &jar.header())], b"")
        .await?;
    n += 1;
    jar.take(&r);
    let page = r.text();
    let form = latchkey::http::encode_form(&[
        ("csrf", &hidden(&page, "csrf")?),
        ("next", &hidden(&page, "next")?),
        ("username", &c.user),
        ("password", &c.password),
    ]);
    let r = conn
        .send(
            "POST",
            "/login",
            &[FORM, ("cookie", &jar.header())],
            form.as_bytes(),
        )
        .await?;
    n += 1;
    jar.take(&r);
    let consent = location(&r)?;
    let r = conn
        .send("GET", &consent, &[("cookie", &jar.header())], b"")
        .await?;
    n += 1;
    jar.take(&r);
    let page = r.text();
    let mut pairs = vec![
        ("csrf".to_owned(), hidden(&page, "csrf")?),
        ("challenge".to_owned(), hidden(&page, "challenge")?),
        ("decision".to_owned(), "allow".to_owned()),
    ];
    for s in ticked_scopes(&page) {
        pairs.push(("scope".into(), s));
    }
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let form = latchkey::http::encode_form(&refs);
    let consent_path = consent.split('?').next().unwrap_or("/oauth/consent");
    let r = conn
        .send(
            "POST",
            consent_path,
            &[FORM, ("cookie", &jar.header())],
            form.as_bytes(),
        )
        .await?;
    n += 1;
    let back = location(&r)?;
    let query = back.split_once('?').map_or("", |(_, q)| q);
    let code = Params::parse(query)?
        .single("code")?
        .ok_or_else(|| format!("no code in {back}"))?
        .to_owned();
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={VERIFIER}",
        encode_component(&code),
        encode_component(REDIRECT)
    );
    let v = client_post(c, conn, &c.paths.token, body.as_bytes()).await?;
    n += 1;
    let s = |k: &str| -> Result<String, BenchError> {
        Ok(v[k]
            .as_str()
            .ok_or_else(|| format!("no {k} in the token response"))?
            .to_owned())
    };
    // A fresh jar next time signs in again, as a new browser would.
    Ok((s("access_token")?, s("refresh_token")?, n))
}

/// What one worker keeps between requests.
struct Worker {
    conn: Conn,
    access: String,
    refresh: String,
}

async fn one(c: &Ctx, s: Scenario, w: &mut Worker) -> Result<u32, BenchError> {
    match s {
        Scenario::Introspection => {
            let body = format!("token={}", w.access);
            let v = client_post(c, &mut w.conn, &c.paths.introspect, body.as_bytes()).await?;
            if v["active"] != true {
                return Err("introspection says inactive".into());
            }
            Ok(1)
        }
        Scenario::ClientCredentials => {
            client_post(
                c,
                &mut w.conn,
                &c.paths.token,
                b"grant_type=client_credentials&scope=dns%3Aread",
            )
            .await?;
            Ok(1)
        }
        Scenario::Refresh => {
            let body = format!("grant_type=refresh_token&refresh_token={}", w.refresh);
            let v = client_post(c, &mut w.conn, &c.paths.token, body.as_bytes()).await?;
            w.refresh = v["refresh_token"]
                .as_str()
                .ok_or("no refresh_token")?
                .to_owned();
            Ok(1)
        }
        Scenario::CodeFlow => {
            let (_, _, n) = code_flow(c, &mut w.conn).await?;
            Ok(n)
        }
    }
}

struct Cell {
    ops: u64,
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<f64>,
    first_error: Option<String>,
}

async fn run_cell(
    ctx: Arc<Ctx>,
    addr: SocketAddr,
    s: Scenario,
    concurrency: usize,
    seconds: f64,
    max_requests: u64,
) -> Result<Cell, BenchError> {
    // Each worker gets its own family (a code flow) before the clock starts.
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let mut conn = Conn::new(addr);
        let (access, refresh, _) = code_flow(&ctx, &mut conn).await?;
        workers.push(Worker {
            conn,
            access,
            refresh,
        });
    }
    let issued = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for mut w in workers {
        let (ctx, issued) = (ctx.clone(), issued.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut ops, mut reqs, mut errors) = (0u64, 0u64, 0u64);
            let mut first_error = None;
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_requests
            {
                let t = Instant::now();
                match one(&ctx, s, &mut w).await {
                    Ok(n) => {
                        lat.push(t.elapsed().as_secs_f64() * 1e6);
                        ops += 1;
                        reqs += u64::from(n);
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                        if errors > 100 {
                            break;
                        }
                    }
                }
            }
            (lat, ops, reqs, errors, first_error)
        }));
    }
    let mut cell = Cell {
        ops: 0,
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: vec![],
        first_error: None,
    };
    for t in tasks {
        let (lat, ops, reqs, errors, fe) = t.await?;
        cell.latencies_us.extend(lat);
        cell.ops += ops;
        cell.requests += reqs;
        cell.errors += errors;
        if cell.first_error.is_none() {
            cell.first_error = fe;
        }
    }
    cell.elapsed = start.elapsed();
    Ok(cell)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), BenchError> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    let addr = loopback(&args.base)?;
    let paths = discover(addr).await?;
    let ctx = Arc::new(Ctx {
        paths,
        basic: format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        ),
        user: args.user.clone(),
        password: args.password.clone(),
    });
    println!(
        "\nHTTP load on {} ({}), {} s or {} requests per cell, one keep-alive connection per worker",
        args.base, args.label, args.seconds, args.max_requests
    );
    println!("| scenario | workers | ops/s | requests/s | p50 ms | p95 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut failed = 0;
    let mut passed = 0;
    for &s in &args.scenarios {
        for &c in &args.concurrency {
            let mut cell =
                run_cell(ctx.clone(), addr, s, c, args.seconds, args.max_requests).await?;
            let secs = cell.elapsed.as_secs_f64();
            cell.latencies_us.sort_by(f64::total_cmp);
            let l = &cell.latencies_us;
            let p50 = median(&mut l.clone());
            println!(
                "| {} | {c} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
                s.name(),
                cell.ops as f64 / secs,
                cell.requests as f64 / secs,
                p50 / 1000.0,
                percentile(l, 0.95) / 1000.0,
                percentile(l, 0.99) / 1000.0,
                cell.errors
            );
            if let Some(e) = cell.first_error {
                eprintln!("first error of {} at {c}: {e}", s.name());
            }
            if cell.errors > 0 || cell.ops == 0 {
                failed += 1;
            } else {
                passed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} cells had errors ({passed} clean)").into());
    }
    Ok(())
}
