//! The broker: the configured one, or a local Tansu that `jm up` starts itself, and the
//! topics the application needs, created when missing.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

/// A Tansu broker this process started; stopped when dropped.
pub struct LocalBroker {
    child: Child,
    /// `host:port` it listens on.
    pub address: String,
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the Tansu binary is: `JM_TANSU`, then `tansu` on the `PATH`, then the folder the
/// project's set-up installs it to.
fn tansu_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("JM_TANSU") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("tansu"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        let path = PathBuf::from(home).join(".cache/jm/tools/tansu");
        path.is_file().then_some(path)
    })
}

impl LocalBroker {
    /// Starts Tansu with its in-memory store on a free loopback port.
    pub fn start() -> Result<Self> {
        let binary = tansu_binary().context(
            "no Kafka brokers are configured and no Tansu binary was found: set \
             JM_KAFKA_BROKERS, or run scripts/setup.sh to install Tansu",
        )?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(&binary)
            .arg("broker")
            .args(["--listener-url", &format!("tcp://{address}")])
            .args(["--advertised-listener-url", &format!("tcp://{address}")])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("failed to start {}", binary.display()))?;
        let broker = Self { child, address };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&broker.address).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "the local Tansu broker did not start listening on {}",
                    broker.address
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(broker)
    }
}

/// Creates the topics that are missing, each with `partitions` partitions.
pub async fn create_topics(brokers: &str, topics: &[String], partitions: i32) -> Result<()> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("failed to create a Kafka admin client")?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new, &options)
        .await
        .context("failed to create topics")?;
    let mut created = 0;
    for result in results {
        match result {
            Ok(_) => created += 1,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => bail!("failed to create topic `{topic}`: {code}"),
        }
    }
    tracing::info!(created, known = topics.len(), "kafka topics ready");
    Ok(())
}
