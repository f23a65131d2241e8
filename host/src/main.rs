//! `jm`: the Job Manager host. Runs the Spin components a `spin.toml` names, like `spin up`.
//!
//! `jm build` builds components; `jm up` builds what is missing, applies migrations, loads and
//! links every component, then serves HTTP until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use jm_host::manifest::Manifest;
use jm_host::runtime_config::RuntimeConfig;
use jm_host::{admin, app, build, migrate};

/// How long in-flight requests may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(
    name = "jm",
    version,
    about = "Runs Spin components with Kafka, Postgres and Redis"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build every component that has a `[component.NAME.build]` command.
    Build {
        /// The application manifest.
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        manifest: PathBuf,
    },
    /// Serve the application.
    Up(UpArgs),
}

#[derive(Parser)]
struct UpArgs {
    /// The application manifest.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    manifest: PathBuf,
    /// Where HTTP triggers listen.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Where the admin API listens.
    #[arg(long, default_value = "127.0.0.1:3001")]
    admin: SocketAddr,
    /// Runtime config: key-value stores and the Postgres server.
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// Build every component before serving.
    #[arg(long)]
    build: bool,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
        .and_then(|runtime| runtime.block_on(run(Cli::parse())));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Build { manifest } => {
            let manifest = Manifest::load(&manifest)?;
            build::build(&manifest, build::Selection::All)
        }
        Command::Up(args) => up(args).await,
    }
}

async fn up(args: UpArgs) -> Result<()> {
    let manifest = Manifest::load(&args.manifest)?;
    let runtime = RuntimeConfig::load(args.runtime_config_file.as_deref())?;
    let selection = if args.build {
        build::Selection::All
    } else {
        build::Selection::Missing
    };
    build::build(&manifest, selection)?;

    let ready = Arc::new(AtomicBool::new(false));
    let admin = TcpListener::bind(args.admin)
        .await
        .with_context(|| format!("failed to listen on {} (admin)", args.admin))?;
    tokio::spawn(admin::serve(admin, ready.clone()));

    migrate::run(&manifest.dir.join("migrations"), &runtime.postgres_url()).await?;
    let app = app::App::load(&manifest, &runtime).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(app = %manifest.name, %address, admin = %args.admin, "serving");
    eprintln!("Serving http://{address}");
    for trigger in &manifest.http_triggers {
        if let Some(route) = &trigger.route {
            eprintln!("    {}: http://{address}{}", trigger.component, route);
        }
    }
    for trigger in &manifest.kafka_triggers {
        eprintln!(
            "    {}: kafka {} (group {})",
            trigger.component,
            trigger.topics.join(", "),
            trigger.group
        );
    }
    ready.store(true, Ordering::Relaxed);
    app.serve(listener, shutdown_signal(), SHUTDOWN_GRACE)
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
