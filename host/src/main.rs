//! `jm`: the Job Manager host. Runs the Spin components a `spin.toml` names, like `spin up`.
//!
//! `jm build` builds components; `jm up` builds what is missing, applies migrations, loads and
//! links every component, then serves HTTP until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use jm_host::fleet::Fleet;
use jm_host::kafka::broker::LocalBroker;
use jm_host::manifest::Manifest;
use jm_host::runtime_config::RuntimeConfig;
use jm_host::{admin, app, build, cli, migrate, watch};

/// mimalloc rather than the system allocator: a fresh instance per message or request
/// allocates and frees much on two threads at once, and glibc's arenas then contend (jm's CPU
/// per Kafka message fell by a fifth, `bench/kafka.sh`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// List a running host's components, their versions and counters (and the fleet's).
    Components {
        /// The host's admin address.
        #[arg(long, default_value = "127.0.0.1:3001")]
        admin: SocketAddr,
    },
    /// Swap a component for a new build while the host keeps serving (every host of a fleet).
    Reload {
        /// The component.
        name: String,
        /// The new Wasm; without it, the host reads the component's `source` again.
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// The host's admin address.
        #[arg(long, default_value = "127.0.0.1:3001")]
        admin: SocketAddr,
    },
    /// Go back to the version a component ran before its last reload.
    Rollback {
        /// The component.
        name: String,
        /// The host's admin address.
        #[arg(long, default_value = "127.0.0.1:3001")]
        admin: SocketAddr,
    },
    /// List the topics, their Avro schemas and fingerprints.
    Schemas {
        /// The application manifest.
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        manifest: PathBuf,
    },
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
    /// Rebuild and reload a component when a file matching its `build.watch` globs changes.
    #[arg(long)]
    watch: bool,
}

fn main() -> std::process::ExitCode {
    keep_backtraces_to_panics();
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
        .and_then(|runtime| {
            let result = runtime.block_on(run(Cli::parse()));
            // The runtime's tasks, and the Kafka clients they hold, go before a local broker.
            drop(runtime);
            result.map(drop)
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// With `RUST_BACKTRACE` set, every error value would capture a backtrace, and wasmtime makes
/// one each time a store of a WASI 0.3 component is dropped (its idle fiber is cancelled): that
/// unwinding cost a tenth of the host's time per message. Panics keep their backtraces; an
/// operator who wants them on errors too sets `RUST_LIB_BACKTRACE=1`.
#[expect(
    unsafe_code,
    reason = "setting an environment variable while no other thread runs"
)]
fn keep_backtraces_to_panics() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first thing in `main`, before the runtime or any thread starts.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

/// Runs one command; `jm up` hands back the local broker it started, if any, to be stopped
/// after the runtime.
async fn run(cli: Cli) -> Result<Option<LocalBroker>> {
    let done = match cli.command {
        Command::Build { manifest } => {
            let manifest = Manifest::load(&manifest)?;
            build::build(&manifest, build::Selection::All)
        }
        Command::Up(args) => return up(args).await,
        Command::Components { admin } => cli::components(admin).await,
        Command::Reload { name, wasm, admin } => cli::reload(admin, &name, wasm.as_deref()).await,
        Command::Rollback { name, admin } => cli::rollback(admin, &name).await,
        Command::Schemas { manifest } => schemas(&Manifest::load(&manifest)?),
    };
    done.map(|()| None)
}

/// Prints every topic with its schema files and their fingerprints.
fn schemas(manifest: &Manifest) -> Result<()> {
    let schemas = jm_host::kafka::schema::Schemas::load(&manifest.kafka.schemas)?;
    println!("{:<40} {:<44} FINGERPRINT (CRC-64-AVRO)", "TOPIC", "SCHEMA");
    for (topic, versions) in schemas.topics() {
        for version in versions
            .earlier
            .iter()
            .chain(std::iter::once(&versions.current))
        {
            println!(
                "{topic:<40} {:<44} {}",
                version.file,
                hex::encode(version.fingerprint)
            );
        }
    }
    Ok(())
}

async fn up(args: UpArgs) -> Result<Option<LocalBroker>> {
    let manifest = Manifest::load(&args.manifest)?;
    let runtime = RuntimeConfig::load(args.runtime_config_file.as_deref())?;
    let selection = if args.build {
        build::Selection::All
    } else {
        build::Selection::Missing
    };
    build::build(&manifest, selection)?;

    let token = std::env::var("JM_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    if !args.admin.ip().is_loopback() && token.is_none() {
        anyhow::bail!(
            "the admin API listens beyond loopback on {}: set JM_ADMIN_TOKEN",
            args.admin
        );
    }
    let state = Arc::new(admin::AdminState {
        token,
        ..Default::default()
    });
    let admin = TcpListener::bind(args.admin)
        .await
        .with_context(|| format!("failed to listen on {} (admin)", args.admin))?;
    let admin_address = admin.local_addr()?;
    tokio::spawn(admin::serve(admin, state.clone()));

    let migrations = manifest.dir.join("migrations");
    migrate::run(
        &migrations,
        manifest.seed.as_deref(),
        &runtime.postgres_url(),
    )
    .await?;
    let mut app = app::App::load(&manifest, &runtime).await?;
    let broker = app.take_broker();
    let _ = state.slots.set(app.slots.clone());
    let _ = state.joining.set(app.joining.clone());
    let fleet = match &app.kafka {
        Some((kafka, _)) => {
            let admin = admin_address.to_string();
            let slots = app.slots.clone();
            let redis = runtime.redis_url();
            let fleet = Fleet::join(&manifest.name, kafka.clone(), &redis, slots, admin).await?;
            let _ = state.fleet.set(fleet.clone());
            Some(fleet)
        }
        None => None,
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(app = %manifest.name, %address, admin = %admin_address, "serving");
    eprintln!("Admin API http://{admin_address}");
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

    if args.watch {
        watch::spawn(app.slots.values().cloned().collect(), fleet);
    }
    state.ready.store(true, Ordering::Relaxed);
    app.serve(listener, shutdown_signal(), SHUTDOWN_GRACE)
        .await?;
    tracing::info!("stopped");
    Ok(broker)
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
