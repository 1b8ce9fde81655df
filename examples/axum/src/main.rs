//! `cargo run -p latchkey-example-axum`: parses the configuration and
//! serves. Everything else is in the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use latchkey_example_axum::config::{self, Command};
use latchkey_example_axum::{app, prepare};

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

async fn run(config: config::Config) -> Result<(), String> {
    use latchkey_example_axum::store::{self, SqlKind};
    // The data dir must exist before a store opens a file in it.
    latchkey_example_axum::keyfile::ensure_data_dir(&config.data_dir)
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    match config.database_url.clone() {
        None => {
            let redb = store::open_redb(&config.data_dir)?;
            serve(config, redb).await
        }
        Some(url) => match store::sql_kind(&url)? {
            SqlKind::Postgres => serve(config, store::open_postgres(&url).await?).await,
            SqlKind::MySql => serve(config, store::open_mysql(&url).await?).await,
            SqlKind::Sqlite => serve(config, store::open_sqlite(&url).await?).await,
        },
    }
}

async fn serve<S: latchkey::storage::Storage + 'static>(
    config: config::Config,
    store: std::sync::Arc<S>,
) -> Result<(), String> {
    let state = prepare(&config, store).await?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("listening on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let storage = match &config.database_url {
        None => format!("redb in {}", config.data_dir.display()),
        Some(url) => format!("{} database", url.split(':').next().unwrap_or("SQL")),
    };
    eprintln!(
        "latchkey demo listening on http://{addr} (issuer {}, storage: {storage})",
        config.issuer
    );
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
