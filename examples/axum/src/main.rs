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
    let store = latchkey_example_axum::store::open_redb(&config.data_dir)?;
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
