//! `cargo run -p latchkey-example-axum`: parses the configuration and
//! serves. Everything else is in the library.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use latchkey_example_axum::config::{self, Command};
use latchkey_example_axum::{app, prepare};

/// INTEGRATION POINT: the storage backend.
///
/// The memory store forgets everything (clients, grants, tokens) on exit;
/// only the server key in `data_dir` persists. To switch to redb, add
/// `latchkey-redb.workspace = true` to Cargo.toml and change this function
/// to open a file in `data_dir`, along the lines of (the constructor's exact
/// name is the redb crate's):
///
/// ```ignore
/// fn open_store(data_dir: &Path) -> Result<Arc<latchkey_redb::RedbStore>, String> {
///     let store = latchkey_redb::RedbStore::open(data_dir.join("latchkey.redb"))
///         .map_err(|e| e.to_string())?;
///     Ok(Arc::new(store))
/// }
/// ```
/// Nothing else changes: the app is generic over the store.
fn open_store(data_dir: &Path) -> Result<Arc<latchkey::MemoryStore>, String> {
    let _ = data_dir;
    Ok(Arc::new(latchkey::MemoryStore::new()))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cmd = config::parse(std::env::args().skip(1), |k| std::env::var(k).ok());
    let config = match cmd {
        Ok(Command::Serve(c)) => c,
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
    // The data dir must exist before the store opens a file in it.
    latchkey_example_axum::keyfile::ensure_data_dir(&config.data_dir)
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    let store = open_store(&config.data_dir)?;
    let state = prepare(&config, store).await?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("listening on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "latchkey demo listening on http://{addr} (issuer {}, data in {})",
        config.issuer,
        config.data_dir.display()
    );
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
