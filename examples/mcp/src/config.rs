//! Flags and environment variables of the MCP server. Hand-written like the
//! demo authorization server's: a handful of `--name value` flags, each with
//! an environment variable, not worth a proc-macro crate.

use std::net::SocketAddr;
use std::time::Duration;

/// Everything the MCP server needs to start. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Listen address (`--addr`, `LATCHKEY_MCP_ADDR`).
    pub addr: SocketAddr,
    /// The authorization server's issuer (`--issuer`, `LATCHKEY_MCP_ISSUER`);
    /// its RFC 8414 metadata names the introspection endpoint.
    pub issuer: String,
    /// This server's resource identifier (RFC 8707), also where MCP is
    /// served (`--resource`, `LATCHKEY_MCP_RESOURCE`; default
    /// `http://<addr>/mcp`). Tokens must name it as their audience.
    pub resource: String,
    /// Client id this server authenticates to introspection with
    /// (`--client-id`, `LATCHKEY_MCP_CLIENT_ID`).
    pub client_id: String,
    /// Its secret (`--client-secret`, `LATCHKEY_MCP_CLIENT_SECRET`; prefer
    /// the variable, a flag shows in `ps`).
    pub client_secret: String,
    /// How long an introspection answer is reused (`--cache-ttl`,
    /// `LATCHKEY_MCP_CACHE_TTL`, seconds, default 5): also how long a
    /// revoked token may still pass here.
    pub cache_ttl: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("cache_ttl", &self.cache_ttl)
            .finish()
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
Latchkey example MCP server: tools behind tokens checked by introspection

Options (each also read from the environment variable shown):
  --addr ADDR           listen address [LATCHKEY_MCP_ADDR, default 127.0.0.1:8090]
  --issuer URL          the authorization server [LATCHKEY_MCP_ISSUER, default http://127.0.0.1:8080]
  --resource URL        this server's resource identifier and MCP endpoint
                        [LATCHKEY_MCP_RESOURCE, default http://<addr>/mcp]
  --client-id ID        client id for the introspection endpoint [LATCHKEY_MCP_CLIENT_ID]
  --client-secret S     its secret [LATCHKEY_MCP_CLIENT_SECRET; prefer the variable]
  --cache-ttl SECS      seconds an introspection answer is reused, 0 to 60
                        [LATCHKEY_MCP_CACHE_TTL, default 5]
  -h, --help            this text
";

/// Parses `args` (without the program name); `env` looks up environment
/// variables. Flags win over the environment.
///
/// # Errors
/// A message naming the bad or missing flag.
pub fn parse<I, F>(args: I, env: F) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    F: Fn(&str) -> Option<String>,
{
    let mut addr = env("LATCHKEY_MCP_ADDR");
    let mut issuer = env("LATCHKEY_MCP_ISSUER");
    let mut resource = env("LATCHKEY_MCP_RESOURCE");
    let mut client_id = env("LATCHKEY_MCP_CLIENT_ID");
    let mut client_secret = env("LATCHKEY_MCP_CLIENT_SECRET");
    let mut ttl = env("LATCHKEY_MCP_CACHE_TTL");
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
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
            "--issuer" => issuer = Some(value()?),
            "--resource" => resource = Some(value()?),
            "--client-id" => client_id = Some(value()?),
            "--client-secret" => client_secret = Some(value()?),
            "--cache-ttl" => ttl = Some(value()?),
            other => return Err(format!("unknown option {other} (try --help)")),
        }
    }
    let addr: SocketAddr = match addr {
        Some(a) => a
            .parse()
            .map_err(|_| format!("--addr: {a:?} is not an address like 127.0.0.1:8090"))?,
        None => SocketAddr::from(([127, 0, 0, 1], 8090)),
    };
    let issuer = http_url(
        "--issuer",
        issuer.as_deref().unwrap_or("http://127.0.0.1:8080"),
    )?;
    let resource = match resource {
        Some(r) => http_url("--resource", &r)?,
        None => format!("{}/mcp", base_url_for(addr)),
    };
    if path_of(&resource).is_empty() {
        return Err(format!(
            "--resource: {resource:?} needs a path, like http://127.0.0.1:8090/mcp (MCP is served there)"
        ));
    }
    let client_id = client_id
        .filter(|c| !c.is_empty())
        .ok_or("--client-id (or LATCHKEY_MCP_CLIENT_ID) is required: the client this server introspects tokens as")?;
    let client_secret = client_secret
        .filter(|c| !c.is_empty())
        .ok_or("--client-secret (or LATCHKEY_MCP_CLIENT_SECRET) is required")?;
    let cache_ttl = match ttl {
        None => Duration::from_secs(5),
        Some(t) => match t.parse::<u64>() {
            Ok(s) if s <= 60 => Duration::from_secs(s),
            _ => {
                return Err(format!(
                    "--cache-ttl: {t:?} is not a number of seconds from 0 to 60"
                ))
            }
        },
    };
    Ok(Command::Serve(Box::new(Config {
        addr,
        issuer,
        resource,
        client_id,
        client_secret,
        cache_ttl,
    })))
}

/// `http://` + the address a browser on this machine would use: a
/// wildcard listen address becomes loopback.
fn base_url_for(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// A plain `http` URL with a host and no query or fragment, without a
/// trailing slash. `https` is refused: this example's introspection client
/// is built without TLS (it runs on loopback), and a URL it cannot reach
/// should fail at start, not at the first request.
fn http_url(flag: &str, u: &str) -> Result<String, String> {
    if u.starts_with("https://") {
        return Err(format!(
            "{flag}: {u:?}: this example speaks plain http only (it is built without TLS for a loopback demo)"
        ));
    }
    let rest = u
        .strip_prefix("http://")
        .ok_or_else(|| format!("{flag}: {u:?} must start with http://"))?;
    let parsed = reqwest::Url::parse(u).ok();
    if rest.is_empty()
        || rest.starts_with('/')
        || u.contains(['?', '#', ' '])
        || parsed.is_none_or(|p| p.host_str().is_none())
    {
        return Err(format!(
            "{flag}: {u:?} must be a URL with a host and no query or fragment"
        ));
    }
    Ok(u.trim_end_matches('/').to_owned())
}

/// The path of a URL without its trailing `/` (empty for none or for a
/// string that is no URL; the flags were checked before).
#[must_use]
pub fn path_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

/// The host of a URL, and `host:port` when it has a port: what a client
/// sends as `Host`.
#[must_use]
pub fn hosts_of(url: &str) -> Vec<String> {
    let Ok(u) = reqwest::Url::parse(url) else {
        return vec![];
    };
    let Some(host) = u.host_str() else {
        return vec![];
    };
    let mut h = vec![host.to_owned()];
    if let Some(p) = u.port() {
        h.push(format!("{host}:{p}"));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    fn creds(k: &str) -> Option<String> {
        match k {
            "LATCHKEY_MCP_CLIENT_ID" => Some("mcp-server".into()),
            "LATCHKEY_MCP_CLIENT_SECRET" => Some("s3cret".into()),
            _ => None,
        }
    }

    #[test]
    fn defaults_follow_addr_and_flags_win() {
        let Command::Serve(c) = parse(args(&["--addr", "127.0.0.1:9000"]), creds).unwrap() else {
            panic!("expected serve")
        };
        assert_eq!(c.resource, "http://127.0.0.1:9000/mcp");
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.cache_ttl, Duration::from_secs(5));
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "Debug hides the secret"
        );
        let Command::Serve(c) = parse(
            args(&[
                "--resource=http://localhost:9000/tools/",
                "--client-id",
                "x",
            ]),
            creds,
        )
        .unwrap() else {
            panic!("expected serve")
        };
        assert_eq!(c.resource, "http://localhost:9000/tools");
        assert_eq!(c.client_id, "x");
        assert_eq!(path_of(&c.resource), "/tools");
        assert_eq!(hosts_of(&c.resource), ["localhost", "localhost:9000"]);
    }

    #[test]
    fn bad_input_is_reported() {
        let none = |_: &str| None;
        let err = |a: &[&str], env: &dyn Fn(&str) -> Option<String>| {
            parse(args(a), env).expect_err("should fail")
        };
        assert!(err(&[], &none).contains("--client-id"));
        assert!(err(&["--addr", "nope"], &creds).contains("--addr"));
        assert!(err(&["--issuer", "https://a.example"], &creds).contains("plain http"));
        assert!(err(&["--issuer", "ftp://a"], &creds).contains("http://"));
        assert!(err(&["--resource", "http://a.example"], &creds).contains("path"));
        assert!(err(&["--resource", "http://a.example/m?x"], &creds).contains("query"));
        assert!(err(&["--cache-ttl", "61"], &creds).contains("--cache-ttl"));
        assert!(err(&["--frob"], &creds).contains("unknown option"));
        assert_eq!(parse(args(&["-h"]), none).unwrap(), Command::Help);
    }
}
