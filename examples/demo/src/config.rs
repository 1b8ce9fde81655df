//! Start-up configuration: flags, environment variables and defaults, plus
//! the demo's scope registry and accounts.
//!
//! The parser is hand-written rather than `clap`: there are eight flags, all
//! `--name value` or bare switches, and every one also reads an environment
//! variable. A few dozen lines cover that without adding a proc-macro crate
//! to every build of the example on small CI machines.

use std::net::SocketAddr;
use std::path::PathBuf;

use latchkey::ScopeRegistry;

/// Account (organisation) both demo users belong to. Seeded and console
/// clients owned by it are private to these users.
pub const DEMO_ACCOUNT: &str = "demo";

/// Everything the server needs to start. `Debug` hides the passwords and
/// the database URL (which may carry one).
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (`--addr`, `LATCHKEY_ADDR`).
    pub addr: SocketAddr,
    /// Where the server key and the database live (`--data-dir`,
    /// `LATCHKEY_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Issuer URL, no trailing slash (`--issuer`, `LATCHKEY_ISSUER`).
    /// Without either, `http://` + the listen address, so `--addr` alone
    /// moves both.
    pub issuer: String,
    /// Seed the built-in demo clients (`--no-demo-clients`,
    /// `LATCHKEY_NO_DEMO_CLIENTS=1` turn it off).
    pub demo_clients: bool,
    /// JSON file of clients to upsert at start (`--clients`,
    /// `LATCHKEY_CLIENTS`).
    pub clients_file: Option<PathBuf>,
    /// Password of the demo user `alice` (`--alice-password`,
    /// `LATCHKEY_ALICE_PASSWORD`).
    pub alice_password: String,
    /// Password of the demo user `bob` (`--bob-password`,
    /// `LATCHKEY_BOB_PASSWORD`).
    pub bob_password: String,
    /// Let operators mark a domain verified without checking it
    /// (`--trust-domain-claims`, `LATCHKEY_TRUST_DOMAIN_CLAIMS=1`), for
    /// offline demos. Needs at least one [`Config::operators`]: any other
    /// signed-in developer only gets the real check.
    pub trust_domain_claims: bool,
    /// Users who may confirm domains unchecked with
    /// `--trust-domain-claims` (`--operator USER`, repeatable;
    /// `LATCHKEY_OPERATORS`, space-separated).
    pub operators: Vec<String>,
    /// Demo users who only view the account's apps in the console
    /// (`--viewer USER`, repeatable; `LATCHKEY_VIEWERS`, space-separated).
    /// Otherwise `alice` is the account's owner and `bob` a developer.
    pub viewers: Vec<String>,
    /// Nameserver for the DNS TXT check instead of the system's
    /// (`--dns-server ADDR`, `LATCHKEY_DNS_SERVER`, e.g. `127.0.0.1:5353`).
    pub dns_server: Option<SocketAddr>,
    /// SQL database instead of the embedded redb file (`--database-url`,
    /// `LATCHKEY_DATABASE_URL`): `postgres://…`, `mysql://…` or
    /// `sqlite://PATH`. Migrations are applied at start.
    pub database_url: Option<String>,
    /// Token and code lifetimes, and the refresh grace period.
    pub lifetimes: Lifetimes,
    /// Open dynamic client registration (RFC 7591 §3): anyone may register
    /// a client, as MCP clients meeting this server for the first time do
    /// (`--open-registration`, `LATCHKEY_OPEN_REGISTRATION=1`). Off by
    /// default: an open endpoint lets anyone create clients, bounded only
    /// by the quota.
    pub open_registration: bool,
    /// Resources (RFC 8707) besides the demo API that self-registered
    /// clients and metadata-document clients may get tokens for, e.g. an
    /// MCP server's URL (`--protected-resource URL`, repeatable;
    /// `LATCHKEY_PROTECTED_RESOURCES`, space-separated). Needs
    /// [`Config::open_registration`] or [`Config::client_metadata_documents`].
    pub protected_resources: Vec<String>,
    /// Accept Client ID Metadata Documents: a client whose `client_id` is an
    /// `https` URL is described by the document there, fetched by the
    /// SSRF-guarded `HttpsFetcher` (`--client-metadata-documents`,
    /// `LATCHKEY_CLIENT_METADATA_DOCUMENTS=1`). Off by default.
    pub client_metadata_documents: bool,
    /// **Tests only.** Lets the document fetcher connect to loopback
    /// addresses, so a test can serve documents on 127.0.0.1
    /// (`--cimd-allow-loopback-for-tests`,
    /// `LATCHKEY_CIMD_ALLOW_LOOPBACK_FOR_TESTS=1`). Needs
    /// [`Config::client_metadata_documents`]. Never in a deployment: anyone
    /// picking a client id could then make the server request its own
    /// loopback services.
    pub cimd_allow_loopback_for_tests: bool,
    /// **Tests only.** A root certificate (PEM or DER file) the document
    /// fetcher trusts besides the webpki roots, e.g. a test's self-signed
    /// one (`--cimd-extra-root-cert FILE`, `LATCHKEY_CIMD_EXTRA_ROOT_CERT`).
    /// Needs [`Config::client_metadata_documents`].
    pub cimd_extra_root_cert: Option<PathBuf>,
    /// Whether the OAuth routes apply the library's default rate limits
    /// (on unless `--no-rate-limits`, `LATCHKEY_NO_RATE_LIMITS=1`). Off only
    /// for load benchmarks from one loopback address, which the
    /// per-address limits would otherwise cap at 600 requests a minute.
    pub rate_limits: bool,
}

/// Lifetimes in seconds, each a flag and an environment variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    /// How long after a rotation a retry with the old refresh token gets the
    /// same successor (`--refresh-grace`, `LATCHKEY_REFRESH_GRACE`). `0` is
    /// strict rotation: any second use of a refresh token, even a
    /// concurrent one, revokes the whole family.
    pub refresh_grace: u64,
    /// Authorization code lifetime, 1 to 600 (`--code-ttl`,
    /// `LATCHKEY_CODE_TTL`).
    pub code_ttl: u64,
    /// Access token lifetime (`--access-token-ttl`,
    /// `LATCHKEY_ACCESS_TOKEN_TTL`).
    pub access_token_ttl: u64,
    /// Refresh token lifetime, renewed by every rotation
    /// (`--refresh-token-ttl`, `LATCHKEY_REFRESH_TOKEN_TTL`).
    pub refresh_token_ttl: u64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            refresh_grace: 30,
            code_ttl: 60,
            access_token_ttl: 900,
            refresh_token_ttl: 30 * 86_400,
        }
    }
}

impl Lifetimes {
    /// Applies these lifetimes to an engine configuration.
    pub fn apply(&self, c: &mut latchkey::EngineConfig) {
        c.refresh_grace = self.refresh_grace;
        c.code_ttl = self.code_ttl;
        c.access_token_ttl = self.access_token_ttl;
        c.refresh_token_ttl = self.refresh_token_ttl;
    }
}

fn seconds(flag: &str, v: &str, min: u64, max: u64) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag}: {v:?} must be a number of seconds from {min} to {max}"
        )),
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field("issuer", &self.issuer)
            .field("clients_file", &self.clients_file)
            .field("demo_clients", &self.demo_clients)
            .field("trust_domain_claims", &self.trust_domain_claims)
            .field("operators", &self.operators)
            .field("viewers", &self.viewers)
            .field("dns_server", &self.dns_server)
            .field("open_registration", &self.open_registration)
            .field("protected_resources", &self.protected_resources)
            .field("client_metadata_documents", &self.client_metadata_documents)
            .field(
                "cimd_allow_loopback_for_tests",
                &self.cimd_allow_loopback_for_tests,
            )
            .field("cimd_extra_root_cert", &self.cimd_extra_root_cert)
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults: `127.0.0.1:8080`, `./latchkey-data`, issuer
    /// `http://127.0.0.1:8080`, demo clients on, demo passwords
    /// `alice-pass` / `bob-pass`.
    #[must_use]
    pub fn defaults() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("latchkey-data"),
            issuer: "http://127.0.0.1:8080".into(),
            clients_file: None,
            demo_clients: true,
            alice_password: "alice-pass".into(),
            bob_password: "bob-pass".into(),
            trust_domain_claims: false,
            operators: Vec::new(),
            viewers: Vec::new(),
            dns_server: None,
            database_url: None,
            lifetimes: Lifetimes::default(),
            open_registration: false,
            protected_resources: Vec::new(),
            client_metadata_documents: false,
            cimd_allow_loopback_for_tests: false,
            cimd_extra_root_cert: None,
            rate_limits: true,
        }
    }

    /// The resource identifier of the demo API (RFC 8707), `<issuer>/api`.
    #[must_use]
    pub fn resource(&self) -> String {
        format!("{}/api", self.issuer)
    }

    /// The resources clients that onboard themselves (dynamic registration,
    /// metadata documents) may get tokens for: the demo API, then each
    /// `--protected-resource`.
    #[must_use]
    pub fn registration_resources(&self) -> Vec<String> {
        let mut r = vec![self.resource()];
        for extra in &self.protected_resources {
            if !r.contains(extra) {
                r.push(extra.clone());
            }
        }
        r
    }
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Serve(Box<Config>),
    /// Print [`USAGE`] and exit.
    Help,
}

/// `--help` text.
pub const USAGE: &str = "\
Latchkey demo OAuth 2.1 authorization server (examples/axum and examples/actix)

Options (each also read from the environment variable shown):
  --addr ADDR              listen address [LATCHKEY_ADDR, default 127.0.0.1:8080]
  --data-dir DIR           server key and database [LATCHKEY_DATA_DIR, default ./latchkey-data]
  --issuer URL             issuer URL [LATCHKEY_ISSUER, default http:// + the --addr]
  --clients FILE           JSON array of clients to upsert at start [LATCHKEY_CLIENTS]
  --no-demo-clients        do not seed the built-in demo clients (demo-app, demo-cli)
                           [LATCHKEY_NO_DEMO_CLIENTS=1]
  --alice-password PW      password of demo user alice [LATCHKEY_ALICE_PASSWORD, default alice-pass]
  --bob-password PW        password of demo user bob [LATCHKEY_BOB_PASSWORD, default bob-pass]
  --trust-domain-claims    let operators confirm domains without checking them (offline
                           demos); needs --operator [LATCHKEY_TRUST_DOMAIN_CLAIMS=1]
  --operator USER          a user who may confirm domains unchecked; repeatable
                           [LATCHKEY_OPERATORS, space-separated]
  --viewer USER            a demo user who may only view the account's apps (alice owns the
                           account, bob is a developer); repeatable [LATCHKEY_VIEWERS]
  --dns-server ADDR        nameserver for the DNS TXT domain check, e.g. 127.0.0.1:53
                           [LATCHKEY_DNS_SERVER, default: the system's]
  --database-url URL       use SQL storage instead of redb: postgres://…, mysql://…
                           or sqlite://PATH; migrations run at start; needs a build
                           with --features sql [LATCHKEY_DATABASE_URL]
  --refresh-grace SECS     seconds a rotated-out refresh token still gets the same
                           successor (0 = strict: any reuse revokes the family)
                           [LATCHKEY_REFRESH_GRACE, default 30]
  --code-ttl SECS          authorization code lifetime, 1 to 600 [LATCHKEY_CODE_TTL, default 60]
  --access-token-ttl SECS  access token lifetime [LATCHKEY_ACCESS_TOKEN_TTL, default 900]
  --refresh-token-ttl SECS refresh token lifetime, renewed on rotation
                           [LATCHKEY_REFRESH_TOKEN_TTL, default 2592000]
  --open-registration      let anyone register a client (RFC 7591), as MCP clients do
                           [LATCHKEY_OPEN_REGISTRATION=1, default off]
  --protected-resource URL a resource (e.g. an MCP server's URL) self-registered and
                           metadata-document clients may get tokens for, besides the demo
                           API; repeatable; needs --open-registration or
                           --client-metadata-documents [LATCHKEY_PROTECTED_RESOURCES,
                           space-separated]
  --client-metadata-documents
                           accept https URLs as client ids, described by the Client ID
                           Metadata Document there, as MCP clients do
                           [LATCHKEY_CLIENT_METADATA_DOCUMENTS=1, default off]
  --cimd-allow-loopback-for-tests
                           TESTS ONLY: let the document fetcher connect to loopback
                           addresses; needs --client-metadata-documents
                           [LATCHKEY_CIMD_ALLOW_LOOPBACK_FOR_TESTS=1]
  --cimd-extra-root-cert FILE
                           TESTS ONLY: also trust this root certificate (PEM or DER) when
                           fetching documents; needs --client-metadata-documents
                           [LATCHKEY_CIMD_EXTRA_ROOT_CERT]
  --no-rate-limits         BENCHMARKS ONLY: turn the OAuth routes' rate limits off (a load
                           generator on one address would hit them at once)
                           [LATCHKEY_NO_RATE_LIMITS=1, default on]
  -h, --help               this text
";

/// Parses `args` (without the program name); `env` looks up environment
/// variables. Flags win over the environment, which wins over defaults.
///
/// # Errors
/// A message naming the bad flag or value.
pub fn parse<I, F>(args: I, env: F) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    F: Fn(&str) -> Option<String>,
{
    let mut c = Config::defaults();
    let mut addr = env("LATCHKEY_ADDR");
    let mut issuer = env("LATCHKEY_ISSUER");
    if let Some(d) = env("LATCHKEY_DATA_DIR") {
        c.data_dir = d.into();
    }
    c.clients_file = env("LATCHKEY_CLIENTS").map(PathBuf::from);
    c.database_url = env("LATCHKEY_DATABASE_URL");
    if let Some(p) = env("LATCHKEY_ALICE_PASSWORD") {
        c.alice_password = p;
    }
    if let Some(p) = env("LATCHKEY_BOB_PASSWORD") {
        c.bob_password = p;
    }
    let yes = |v: String| matches!(v.as_str(), "1" | "true" | "yes");
    c.trust_domain_claims = env("LATCHKEY_TRUST_DOMAIN_CLAIMS").is_some_and(yes);
    let mut operators: Vec<String> = env("LATCHKEY_OPERATORS")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut operators_from_flags = false;
    let mut viewers: Vec<String> = env("LATCHKEY_VIEWERS")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut viewers_from_flags = false;
    let mut dns_server = env("LATCHKEY_DNS_SERVER");
    c.demo_clients = !env("LATCHKEY_NO_DEMO_CLIENTS").is_some_and(yes);
    c.open_registration = env("LATCHKEY_OPEN_REGISTRATION").is_some_and(yes);
    c.client_metadata_documents = env("LATCHKEY_CLIENT_METADATA_DOCUMENTS").is_some_and(yes);
    c.cimd_allow_loopback_for_tests =
        env("LATCHKEY_CIMD_ALLOW_LOOPBACK_FOR_TESTS").is_some_and(yes);
    c.cimd_extra_root_cert = env("LATCHKEY_CIMD_EXTRA_ROOT_CERT").map(PathBuf::from);
    c.rate_limits = !env("LATCHKEY_NO_RATE_LIMITS").is_some_and(yes);
    let mut resources: Vec<String> = env("LATCHKEY_PROTECTED_RESOURCES")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut resources_from_flags = false;

    let mut grace = env("LATCHKEY_REFRESH_GRACE");
    let mut code_ttl = env("LATCHKEY_CODE_TTL");
    let mut access_ttl = env("LATCHKEY_ACCESS_TOKEN_TTL");
    let mut refresh_ttl = env("LATCHKEY_REFRESH_TOKEN_TTL");

    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        // `--name=value` and `--name value` are both accepted.
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (flag.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--addr" => addr = Some(value()?),
            "--data-dir" => c.data_dir = value()?.into(),
            "--issuer" => issuer = Some(value()?),
            "--clients" => c.clients_file = Some(value()?.into()),
            "--database-url" => c.database_url = Some(value()?),
            "--alice-password" => c.alice_password = value()?,
            "--bob-password" => c.bob_password = value()?,
            "--trust-domain-claims" if inline.is_none() => c.trust_domain_claims = true,
            "--operator" => {
                // Flags replace the environment's list rather than add to it.
                if !operators_from_flags {
                    operators.clear();
                    operators_from_flags = true;
                }
                operators.push(value()?);
            }
            "--viewer" => {
                if !viewers_from_flags {
                    viewers.clear();
                    viewers_from_flags = true;
                }
                viewers.push(value()?);
            }
            "--dns-server" => dns_server = Some(value()?),
            "--no-demo-clients" if inline.is_none() => c.demo_clients = false,
            "--no-rate-limits" if inline.is_none() => c.rate_limits = false,
            "--open-registration" if inline.is_none() => c.open_registration = true,
            "--client-metadata-documents" if inline.is_none() => {
                c.client_metadata_documents = true;
            }
            "--cimd-allow-loopback-for-tests" if inline.is_none() => {
                c.cimd_allow_loopback_for_tests = true;
            }
            "--cimd-extra-root-cert" => c.cimd_extra_root_cert = Some(value()?.into()),
            "--protected-resource" => {
                // Flags replace the environment's list rather than add to it.
                if !resources_from_flags {
                    resources.clear();
                    resources_from_flags = true;
                }
                resources.push(value()?);
            }
            "--refresh-grace" => grace = Some(value()?),
            "--code-ttl" => code_ttl = Some(value()?),
            "--access-token-ttl" => access_ttl = Some(value()?),
            "--refresh-token-ttl" => refresh_ttl = Some(value()?),
            other => return Err(format!("unknown option {other} (try --help)")),
        }
    }
    if let Some(a) = addr {
        c.addr = a
            .parse()
            .map_err(|_| format!("--addr: {a:?} is not an address like 127.0.0.1:8080"))?;
    }
    c.issuer = match issuer {
        Some(i) => validate_issuer(&i)?,
        None => issuer_for(c.addr),
    };
    const YEAR: u64 = 366 * 86_400;
    if let Some(v) = grace {
        c.lifetimes.refresh_grace = seconds("--refresh-grace", &v, 0, 3600)?;
    }
    if let Some(v) = code_ttl {
        c.lifetimes.code_ttl = seconds("--code-ttl", &v, 1, latchkey::config::MAX_CODE_TTL)?;
    }
    if let Some(v) = access_ttl {
        c.lifetimes.access_token_ttl = seconds("--access-token-ttl", &v, 1, YEAR)?;
    }
    if let Some(v) = refresh_ttl {
        c.lifetimes.refresh_token_ttl = seconds("--refresh-token-ttl", &v, 1, YEAR)?;
    }
    for r in &resources {
        latchkey::redirect::validate_resource(r).map_err(|_| {
            format!("--protected-resource: {r:?} must be an absolute URL without a fragment")
        })?;
    }
    if !resources.is_empty() && !c.open_registration && !c.client_metadata_documents {
        return Err(
            "--protected-resource only applies with --open-registration or --client-metadata-documents"
                .into(),
        );
    }
    if !c.client_metadata_documents {
        if c.cimd_allow_loopback_for_tests {
            return Err(
                "--cimd-allow-loopback-for-tests only applies with --client-metadata-documents"
                    .into(),
            );
        }
        if c.cimd_extra_root_cert.is_some() {
            return Err(
                "--cimd-extra-root-cert only applies with --client-metadata-documents".into(),
            );
        }
    }
    c.protected_resources = resources;
    if let Some(d) = dns_server {
        c.dns_server = Some(
            d.parse()
                .map_err(|_| format!("--dns-server: {d:?} is not an address like 127.0.0.1:53"))?,
        );
    }
    if c.trust_domain_claims && operators.is_empty() {
        return Err(
            "--trust-domain-claims needs --operator USER: only operators may confirm a domain \
             without checking it"
                .into(),
        );
    }
    c.operators = operators;
    c.viewers = viewers;
    if c.alice_password.is_empty() || c.bob_password.is_empty() {
        return Err("demo passwords must not be empty".into());
    }
    Ok(Command::Serve(Box::new(c)))
}

/// The issuer a server on `addr` has when none is given: what a browser on
/// this machine types. A wildcard address (`0.0.0.0`, `[::]`) becomes
/// loopback, which is reachable; other machines need `--issuer`.
#[must_use]
pub fn issuer_for(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// An issuer is an `http(s)` URL without query or fragment (RFC 8414 §2);
/// plain `http` is allowed because the demo runs on loopback. A trailing
/// slash is dropped so endpoint URLs join cleanly.
fn validate_issuer(i: &str) -> Result<String, String> {
    let rest = i
        .strip_prefix("https://")
        .or_else(|| i.strip_prefix("http://"))
        .ok_or_else(|| format!("--issuer: {i:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') || i.contains(['?', '#', ' ']) {
        return Err(format!(
            "--issuer: {i:?} must be a URL with a host and no query or fragment"
        ));
    }
    Ok(i.trim_end_matches('/').to_owned())
}

/// The demo scope registry, mirroring the demo API's permissions.
#[must_use]
pub fn demo_scopes() -> ScopeRegistry {
    let r = ScopeRegistry::new()
        .register("profile:read", "Read your name and account", &[])
        .and_then(|r| r.register("dns:read", "View DNS records of your zones", &[]))
        .and_then(|r| {
            r.register(
                "dns:edit",
                "Create, change and delete DNS records (includes viewing them)",
                &["dns:read"],
            )
        })
        .and_then(|r| r.register("zones:read", "List your zones and their settings", &[]))
        .and_then(|r| {
            r.register(
                "offline_access",
                "Keep access while you are not using the app (refresh tokens)",
                &[],
            )
        });
    // The names and implications above are constants checked by the tests.
    r.expect("demo scope registry is valid")
}

/// The start-up banner: where it listens, the issuer, the storage, and the
/// demo users and clients.
pub fn banner(config: &Config, addr: std::net::SocketAddr, storage: &str) {
    let pw = |given: &str, default: &str| {
        if given == default {
            default.to_owned()
        } else {
            "(password as configured)".to_owned()
        }
    };
    let d = Config::defaults();
    eprintln!("Latchkey demo authorization server");
    eprintln!("  listening on  http://{addr}");
    eprintln!("  issuer        {}", config.issuer);
    eprintln!("  storage       {storage}");
    eprintln!(
        "  demo users    alice / {}, bob / {}",
        pw(&config.alice_password, &d.alice_password),
        pw(&config.bob_password, &d.bob_password)
    );
    if config.demo_clients {
        eprintln!(
            "  demo clients  {} (try it: {}/demo), {} (redirect http://127.0.0.1/callback, any port)",
            crate::seed::DEMO_APP_ID,
            config.issuer,
            crate::seed::DEMO_CLI_ID
        );
    } else {
        eprintln!("  demo clients  off (--no-demo-clients)");
    }
    if let Some(f) = &config.clients_file {
        eprintln!("  clients file  {}", f.display());
    }
    if config.open_registration {
        eprintln!(
            "  registration  open at {}/oauth/register, for {}",
            config.issuer,
            config.registration_resources().join(", ")
        );
    }
    if config.client_metadata_documents {
        eprintln!(
            "  client ids    https URLs accepted (metadata documents), for {}",
            config.registration_resources().join(", ")
        );
        if config.cimd_allow_loopback_for_tests {
            eprintln!("  !!! TESTS ONLY: the document fetcher may connect to loopback addresses");
        }
        if let Some(f) = &config.cimd_extra_root_cert {
            eprintln!(
                "  !!! TESTS ONLY: the document fetcher also trusts {}",
                f.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_env_and_flags_layer() {
        let none = |_: &str| None;
        assert_eq!(
            parse(args(&[]), none).unwrap(),
            Command::Serve(Box::new(Config::defaults()))
        );
        let env = |k: &str| match k {
            "LATCHKEY_ADDR" => Some("127.0.0.1:9000".into()),
            "LATCHKEY_ISSUER" => Some("https://auth.example/".into()),
            "LATCHKEY_TRUST_DOMAIN_CLAIMS" => Some("1".into()),
            "LATCHKEY_OPERATORS" => Some("alice carol".into()),
            _ => None,
        };
        let Command::Serve(c) = parse(args(&["--addr=127.0.0.1:9100"]), env).unwrap() else {
            panic!("expected serve")
        };
        assert_eq!(c.addr.port(), 9100, "flag beats env");
        assert_eq!(c.issuer, "https://auth.example");
        assert!(c.trust_domain_claims);
        assert_eq!(c.operators, ["alice", "carol"]);
        assert_eq!(c.resource(), "https://auth.example/api");
    }

    #[test]
    fn trusting_domain_claims_needs_an_operator() {
        let none = |_: &str| None;
        let e = parse(args(&["--trust-domain-claims"]), none).unwrap_err();
        assert!(e.contains("--operator"), "{e}");
        let Command::Serve(c) = parse(
            args(&[
                "--trust-domain-claims",
                "--operator",
                "bob",
                "--dns-server=127.0.0.1:5353",
            ]),
            none,
        )
        .unwrap() else {
            panic!("expected serve")
        };
        assert_eq!(c.operators, ["bob"]);
        assert_eq!(c.dns_server, Some("127.0.0.1:5353".parse().unwrap()));
        assert!(parse(args(&["--dns-server", "nowhere"]), none).is_err());
    }

    #[test]
    fn the_issuer_follows_addr_unless_given() {
        let none = |_: &str| None;
        let serve = |a: &[&str]| match parse(args(a), none).unwrap() {
            Command::Serve(c) => c,
            Command::Help => panic!("expected serve"),
        };
        let c = serve(&["--addr", "127.0.0.1:9090"]);
        assert_eq!(c.issuer, "http://127.0.0.1:9090");
        assert_eq!(c.resource(), "http://127.0.0.1:9090/api");
        assert_eq!(
            serve(&["--addr", "0.0.0.0:9091"]).issuer,
            "http://127.0.0.1:9091"
        );
        assert_eq!(serve(&["--addr", "[::1]:9092"]).issuer, "http://[::1]:9092");
        let c = serve(&[
            "--addr",
            "127.0.0.1:9090",
            "--issuer",
            "https://auth.example",
        ]);
        assert_eq!(c.issuer, "https://auth.example");
        assert!(serve(&[]).demo_clients);
        assert!(!serve(&["--no-demo-clients"]).demo_clients);
        assert!(serve(&[]).rate_limits);
        assert!(!serve(&["--no-rate-limits"]).rate_limits);
        let env = |k: &str| (k == "LATCHKEY_NO_DEMO_CLIENTS").then(|| "1".to_owned());
        let Command::Serve(c) = parse(args(&[]), env).unwrap() else {
            panic!("expected serve")
        };
        assert!(!c.demo_clients);
    }

    #[test]
    fn bad_input_is_reported() {
        let none = |_: &str| None;
        assert!(parse(args(&["--addr"]), none).is_err());
        assert!(parse(args(&["--addr", "nope"]), none).is_err());
        assert!(parse(args(&["--issuer", "ftp://x"]), none).is_err());
        assert!(parse(args(&["--issuer", "https://x/?a"]), none).is_err());
        assert!(parse(args(&["--frobnicate"]), none).is_err());
        assert_eq!(parse(args(&["-h"]), none).unwrap(), Command::Help);
        assert!(parse(args(&["--code-ttl", "601"]), none).is_err());
        assert!(parse(args(&["--code-ttl", "0"]), none).is_err());
        assert!(parse(args(&["--access-token-ttl", "-1"]), none).is_err());
        assert!(parse(args(&["--refresh-grace", "soon"]), none).is_err());
    }

    #[test]
    fn lifetimes_come_from_flags_and_env() {
        let env = |k: &str| (k == "LATCHKEY_CODE_TTL").then(|| "120".to_owned());
        let Command::Serve(c) = parse(
            args(&[
                "--refresh-grace",
                "0",
                "--access-token-ttl=300",
                "--refresh-token-ttl",
                "86400",
            ]),
            env,
        )
        .unwrap() else {
            panic!("expected serve")
        };
        assert_eq!(
            c.lifetimes,
            Lifetimes {
                refresh_grace: 0,
                code_ttl: 120,
                access_token_ttl: 300,
                refresh_token_ttl: 86_400,
            }
        );
        let mut e = latchkey::EngineConfig::new("https://a.example", demo_scopes());
        c.lifetimes.apply(&mut e);
        assert_eq!((e.refresh_grace, e.code_ttl), (0, 120));
    }

    /// The configuration `a` and `env` give, or the parse error.
    fn serve(a: &[&str], env: &dyn Fn(&str) -> Option<String>) -> Result<Box<Config>, String> {
        match parse(args(a), env)? {
            Command::Serve(c) => Ok(c),
            Command::Help => panic!("expected serve"),
        }
    }

    #[test]
    fn registration_is_off_unless_asked_and_resources_need_it() {
        let none = |_: &str| None;
        let c = serve(&[], &none).unwrap();
        assert!(!c.open_registration);
        assert!(c.protected_resources.is_empty());
        let mcp = "http://127.0.0.1:8090/mcp";
        let c = serve(&["--open-registration", "--protected-resource", mcp], &none).unwrap();
        assert!(c.open_registration);
        assert_eq!(
            c.registration_resources(),
            vec!["http://127.0.0.1:8080/api".to_owned(), mcp.to_owned()]
        );
        let e = serve(&["--protected-resource", mcp], &none).unwrap_err();
        assert!(e.contains("--open-registration"), "{e}");
        let e = serve(
            &["--open-registration", "--protected-resource", "mcp"],
            &none,
        )
        .unwrap_err();
        assert!(e.contains("absolute URL"), "{e}");
        let env = |k: &str| match k {
            "LATCHKEY_OPEN_REGISTRATION" => Some("1".to_owned()),
            "LATCHKEY_PROTECTED_RESOURCES" => {
                Some("https://a.example/mcp https://b.example/mcp".into())
            }
            _ => None,
        };
        let c = serve(&[], &env).unwrap();
        assert_eq!(c.protected_resources.len(), 2);
        let c = serve(&["--protected-resource", mcp], &env).unwrap();
        assert_eq!(
            c.protected_resources,
            vec![mcp.to_owned()],
            "flags replace the env list"
        );
    }

    #[test]
    fn metadata_documents_are_off_unless_asked_and_test_flags_need_them() {
        let none = |_: &str| None;
        let c = serve(&[], &none).unwrap();
        assert!(!c.client_metadata_documents);
        assert!(!c.cimd_allow_loopback_for_tests);
        assert_eq!(c.cimd_extra_root_cert, None);
        let mcp = "http://127.0.0.1:8090/mcp";
        let c = serve(
            &[
                "--client-metadata-documents",
                "--protected-resource",
                mcp,
                "--cimd-allow-loopback-for-tests",
                "--cimd-extra-root-cert",
                "/tmp/root.pem",
            ],
            &none,
        )
        .unwrap();
        assert!(c.client_metadata_documents && !c.open_registration);
        assert!(c.cimd_allow_loopback_for_tests);
        assert_eq!(c.cimd_extra_root_cert, Some(PathBuf::from("/tmp/root.pem")));
        assert_eq!(c.registration_resources().last().unwrap(), mcp);
        for test_flag in [
            &["--cimd-allow-loopback-for-tests"][..],
            &["--cimd-extra-root-cert", "/tmp/root.pem"],
            &["--open-registration", "--cimd-allow-loopback-for-tests"],
        ] {
            let e = serve(test_flag, &none).unwrap_err();
            assert!(
                e.contains("only applies with --client-metadata-documents"),
                "{e}"
            );
        }
        let env = |k: &str| match k {
            "LATCHKEY_CLIENT_METADATA_DOCUMENTS" | "LATCHKEY_CIMD_ALLOW_LOOPBACK_FOR_TESTS" => {
                Some("1".to_owned())
            }
            "LATCHKEY_CIMD_EXTRA_ROOT_CERT" => Some("/tmp/root.der".into()),
            _ => None,
        };
        let c = serve(&[], &env).unwrap();
        assert!(c.client_metadata_documents && c.cimd_allow_loopback_for_tests);
        assert_eq!(c.cimd_extra_root_cert, Some(PathBuf::from("/tmp/root.der")));
        let env = |k: &str| (k == "LATCHKEY_CIMD_ALLOW_LOOPBACK_FOR_TESTS").then(|| "1".into());
        assert!(
            serve(&[], &env).is_err(),
            "the env var alone is refused too"
        );
    }

    #[test]
    fn demo_scopes_mirror_permissions() {
        let r = demo_scopes();
        let names: Vec<&str> = r.names().collect();
        for s in [
            "profile:read",
            "dns:read",
            "dns:edit",
            "zones:read",
            "offline_access",
        ] {
            assert!(names.contains(&s), "{s}");
        }
        let edit = latchkey::ScopeSet::parse("dns:edit").unwrap();
        assert!(r.expand(&edit).contains("dns:read"));
    }
}
