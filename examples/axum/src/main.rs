//! `cargo run -p latchkey-example-axum`: parses the configuration, opens
//! the storage, serves, and runs the maintenance tasks until Ctrl-C.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use latchkey_example_axum::config::{self, Command, Config};
use latchkey_example_axum::{maintenance, prepare, router, seed, store};

#[tokio::main]
async fn main() -> ExitCode {
    let cmd = config::parse(std::env::args().skip(1), |k| std::env::var(k).ok());
    let config = match cmd {
        Ok(Command::Serve(c)) => *c,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    // The key directory is the data directory: creating it (mode 0700)
    // comes first, as the redb file lives there too.
    latchkey::keys::KeyDir::open(&config.data_dir)
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    let opened = store::open(&config.data_dir, config.database_url.as_deref()).await?;
    let app = prepare(&config, opened.store).await?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("listening on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    banner(&config, addr, &opened.description);
    let tasks = maintenance(&app);
    let served = axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string());
    let report = tasks.shutdown().await;
    eprintln!("stopped; maintenance: {report:?}");
    served
}

fn banner(config: &Config, addr: std::net::SocketAddr, storage: &str) {
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
            seed::DEMO_APP_ID,
            config.issuer,
            seed::DEMO_CLI_ID
        );
    } else {
        eprintln!("  demo clients  off (--no-demo-clients)");
    }
    if let Some(f) = &config.clients_file {
        eprintln!("  clients file  {}", f.display());
    }
}
