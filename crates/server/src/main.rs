//! `agent-track-server`: reads configuration and runs the chosen server.

use clap::Parser;
use tokio::net::TcpListener;

use agent_track_server::cli::{Cli, Command, LogFormat};
use agent_track_server::{proxy, serve};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    if let Err(e) = run(cli.command).await {
        eprintln!("agent-track-server: {e}");
        std::process::exit(2);
    }
}

async fn run(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Proxy(args) => {
            let config = args.config()?;
            let listener = TcpListener::bind(args.listen).await.map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
            tracing::info!(listen = %listener.local_addr()?, upstream = ?upstream_url(&config), "proxy listening");
            let app = proxy::app(proxy::ProxyState::new(config)).merge(serve::health());
            serve::run(listener, app, serve::signal()).await?;
        }
        Command::Collector(_) | Command::Dev(_) => return Err("not built yet".into()),
    }
    Ok(())
}

fn upstream_url(config: &proxy::ProxyConfig) -> &str {
    match &config.upstream {
        proxy::Upstream::Webhook { url, .. } | proxy::Upstream::Pendo { url, .. } => url,
    }
}
