//! Test support: starts `jm up` on a manifest written for the test, with free ports, and
//! stops it when the test ends.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the support module"
)]
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed set-up step should stop the test with its message"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The folder holding the test components' `.wasm` files.
pub fn components() -> PathBuf {
    if let Some(dir) = std::env::var_os("JM_TEST_COMPONENTS") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("components/wasm32-wasip2/release")
}

/// A running `jm up`, killed on drop.
pub struct Host {
    child: Child,
    /// The folder of the manifest (and the log file).
    pub dir: tempfile::TempDir,
    /// Base URL of the HTTP trigger.
    pub url: String,
    /// Base URL of the admin API.
    pub admin: String,
}

/// What to start a host with.
pub struct HostBuilder {
    manifest: String,
    manifest_file: Option<PathBuf>,
    runtime_config: Option<String>,
    env: Vec<(String, String)>,
    env_remove: Vec<String>,
    files: Vec<(String, String)>,
    links: Vec<&'static str>,
}

impl HostBuilder {
    /// A host for `manifest`, where `{components}` stands for the test components' folder.
    pub fn new(manifest: &str) -> Self {
        let manifest = manifest.replace("{components}", &components().display().to_string());
        Self {
            manifest,
            manifest_file: None,
            runtime_config: None,
            env: Vec::new(),
            env_remove: Vec::new(),
            files: Vec::new(),
            links: Vec::new(),
        }
    }

    /// The repository's `spin.toml` with every consumer group of its own: hosts of other
    /// tests come and go on the shared broker, and a group they keep rebalancing (or that a
    /// killed host left wedged) would delay this host's messages. The folders the manifest
    /// names are linked beside it.
    pub fn app() -> Self {
        let root = Self::repo_root();
        let text = std::fs::read_to_string(root.join("spin.toml")).expect("read spin.toml");
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let manifest: Vec<String> = text
            .lines()
            .map(|line| match line.strip_prefix("group = \"") {
                Some(group) => format!("group = \"{}-{suffix}\"", group.trim_end_matches('"')),
                None => line.to_string(),
            })
            .collect();
        std::fs::create_dir_all(root.join("data")).expect("create data/");
        let mut builder = Self::new(&manifest.join("\n"));
        builder.links = vec!["avro", "components", "data", "migrations", "seed"];
        builder
    }

    /// A host for a manifest file as it is, such as the repository's `spin.toml`.
    pub fn from_file(path: &Path) -> Self {
        let mut builder = Self::new("");
        builder.manifest_file = Some(path.to_path_buf());
        builder
    }

    /// The repository's root folder.
    pub fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Adds runtime config.
    pub fn runtime_config(mut self, text: &str) -> Self {
        self.runtime_config = Some(text.to_string());
        self
    }

    /// Sets an environment variable of the host process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Removes an environment variable from the host process.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env_remove.push(key.to_string());
        self
    }

    /// Writes a file beside the manifest before starting.
    pub fn file(mut self, path: &str, text: &str) -> Self {
        self.files.push((path.to_string(), text.to_string()));
        self
    }

    /// Starts `jm up` and waits until it is ready.
    pub fn start(self) -> Host {
        match self.spawn() {
            Ok(host) => host,
            Err(log) => panic!("jm up did not become ready:\n{log}"),
        }
    }

    /// Starts `jm up` and returns its log if it exits before becoming ready.
    pub fn start_expecting_failure(self) -> String {
        match self.spawn() {
            Ok(_) => panic!("jm up started but was expected to fail"),
            Err(log) => log,
        }
    }

    fn spawn(self) -> Result<Host, String> {
        let dir = tempfile::tempdir().expect("temporary folder");
        let manifest = match &self.manifest_file {
            Some(path) => path.clone(),
            None => {
                let path = dir.path().join("spin.toml");
                std::fs::write(&path, &self.manifest).expect("write manifest");
                path
            }
        };
        let root = Self::repo_root().canonicalize().expect("repository root");
        for name in &self.links {
            std::os::unix::fs::symlink(root.join(name), dir.path().join(name))
                .expect("link a repository folder");
        }
        for (path, text) in &self.files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("create folder");
            std::fs::write(path, text).expect("write file");
        }
        let log = std::fs::File::create(dir.path().join("jm.log")).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_jm"));
        command
            .current_dir(dir.path())
            .args(["up", "-f"])
            .arg(&manifest)
            // Port 0: the host takes free ports and prints them, so hosts of tests running at
            // once never race for a port.
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .env("RUST_LOG", "info,jm=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(text) = &self.runtime_config {
            std::fs::write(dir.path().join("runtime-config.toml"), text).expect("write config");
            command.args(["--runtime-config-file", "runtime-config.toml"]);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        for key in &self.env_remove {
            command.env_remove(key);
        }
        let child = command.spawn().expect("spawn jm");
        let mut host = Host {
            child,
            dir,
            url: String::new(),
            admin: String::new(),
        };
        host.wait_ready().map(|()| host)
    }
}

impl Host {
    /// Waits until the host prints where it serves, then takes its addresses from the log.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(self.log());
            }
            let log = self.log();
            let address = |prefix: &str| {
                log.lines()
                    .find_map(|line| line.strip_prefix(prefix))
                    .map(|rest| format!("http://{}", rest.trim()))
            };
            if let (Some(url), Some(admin)) =
                (address("Serving http://"), address("Admin API http://"))
            {
                self.url = url;
                self.admin = admin;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("timed out\n{}", self.log()))
    }

    /// Everything the host has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("jm.log")).unwrap_or_default()
    }

    /// Kills the host at once, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait for jm")
    }
}

impl Drop for Host {
    /// Stops the host as an operator would (SIGTERM), so it also stops a broker it started;
    /// kills it if it has not exited after 15 seconds.
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A body and status from GET `url`.
pub async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// A body and status from POST `url` with `body`.
pub async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The development token key of the repository's `spin.toml`.
pub const DEV_TOKEN_KEY: &str = "ZGV2ZWxvcG1lbnQta2V5LW9ubHktMzItYnl0ZXMhISE";

/// Mints an access token for `company` as the auth service does, valid for `ttl_secs` (negative
/// for one already expired), and records it in Redis unless `revoked`. Returns the token.
pub async fn mint_token(key: &str, company: &str, ttl_secs: i64, revoked: bool) -> String {
    use aes_gcm::aead::{Aead as _, AeadCore as _, KeyInit as _, OsRng, Payload};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    let key = B64.decode(key).expect("base64url key");
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key).expect("32-byte key");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let jti = uuid::Uuid::new_v4().to_string();
    let claims = serde_json::json!({
        "sub": company, "role": "COMPANY", "type": "ACCESS", "jti": jti,
        "iat": now.as_secs(), "exp": now.as_secs() as i64 + ttl_secs,
    });
    let header = B64.encode(r#"{"alg":"dir","enc":"A256GCM"}"#);
    let iv = aes_gcm::Aes256Gcm::generate_nonce(&mut OsRng);
    let plain = claims.to_string();
    let sealed = cipher
        .encrypt(
            &iv,
            Payload {
                msg: plain.as_bytes(),
                aad: header.as_bytes(),
            },
        )
        .expect("encrypt");
    let (body, tag) = sealed.split_at(sealed.len() - 16);
    if !revoked {
        let client = redis::Client::open("redis://127.0.0.1:6379").expect("redis");
        let mut redis = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let _: () = redis::cmd("SET")
            .arg(format!("jm:token:{jti}"))
            .arg(1)
            .arg("EX")
            .arg(ttl_secs.max(1))
            .query_async(&mut redis)
            .await
            .expect("SET");
    }
    format!(
        "{header}..{}.{}.{}",
        B64.encode(iv),
        B64.encode(body),
        B64.encode(tag)
    )
}
