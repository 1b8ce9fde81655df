//! `cargo run -p latchkey-example-mcp -- --client-id … `: the MCP server,
//! until Ctrl-C.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use latchkey_example_mcp::config::{self, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match config::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
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
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: listening on {}: {e}", config.addr);
            return ExitCode::FAILURE;
        }
    };
    eprintln!("Latchkey demo MCP server");
    eprintln!("  MCP endpoint  {}", config.resource);
    eprintln!(
        "  metadata      {}",
        latchkey::metadata::protected_resource_metadata_url(&config.resource)
    );
    eprintln!(
        "  authorization {} (introspecting as {})",
        config.issuer, config.client_id
    );
    let served = axum::serve(listener, latchkey_example_mcp::router(&config))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
