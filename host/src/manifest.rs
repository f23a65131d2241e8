//! The application manifest: Spin's `spin.toml` version 2, read as Spin reads it.
//!
//! Parsing happens in two steps: serde reads the raw tables (unknown keys are errors that name
//! the key and its line), then [`Manifest::load`] checks what serde cannot (triggers naming
//! missing components, variable templates, routes) and resolves paths against the manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::capability::allowed_hosts::AllowedHosts;
use crate::trigger::rate_limit::Tier;

/// The default per-request deadline of a component.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The default linear-memory limit of one instance.
pub const DEFAULT_MEMORY_LIMIT: u64 = 128 << 20;

/// A loaded and checked application manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// The folder of the manifest, against which relative paths resolve.
    pub dir: PathBuf,
    /// `[application] name`.
    pub name: String,
    /// `[variables]`: the application's variables.
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]` entries in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[component.NAME]` entries.
    pub components: BTreeMap<String, ComponentSpec>,
    /// `[[trigger.kafka]]` entries in manifest order.
    pub kafka_triggers: Vec<KafkaTrigger>,
    /// `[[trigger.timer]]` entries in manifest order.
    pub timer_triggers: Vec<TimerTrigger>,
    /// `[application.trigger.kafka]`, with defaults.
    pub kafka: KafkaSettings,
    /// `[application.trigger.http.auth]`: token checks at the edge, when configured.
    pub http_auth: Option<HttpAuth>,
    /// `[application.trigger.http.rate_limit]`: free and premium tiers, when configured.
    pub rate_limit: Option<(Tier, Tier)>,
    /// `[application.database] seed`: the folder of data loaded after the migrations
    /// (`<seed>/<database>/*.sql`), absolute; a deployment's manifest leaves it out.
    pub seed: Option<PathBuf>,
}

/// `[application.trigger.http.auth]`.
#[derive(Debug, Clone)]
pub struct HttpAuth {
    /// The application variable holding the token key.
    pub key_variable: String,
    /// `"METHOD /route"` (or `"/route"`) entries reachable without a token.
    pub public: Vec<String>,
}

/// One `[[trigger.kafka]]` entry: a consumer group running a component for its topics.
#[derive(Debug, Clone)]
pub struct KafkaTrigger {
    /// The component that handles the messages.
    pub component: String,
    /// The topics it consumes.
    pub topics: Vec<String>,
    /// The consumer group (default: the component's name).
    pub group: String,
    /// How many messages it handles at once (default 8); one key is never handled twice at
    /// once.
    pub concurrency: usize,
}

/// One `[[trigger.timer]]` entry: a job sent to a component's HTTP handler on a schedule, by
/// one host of the fleet at each tick.
#[derive(Debug, Clone)]
pub struct TimerTrigger {
    /// The component that runs the job.
    pub component: String,
    /// How often (`every = "30s"`, `"5m"`, `"1h"`).
    pub every: Duration,
    /// The path the job is posted to.
    pub path: String,
}

/// `[application.trigger.kafka]`: how the host talks to Kafka.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// Bootstrap servers; `JM_KAFKA_BROKERS` overrides them, and without either `jm up`
    /// starts a local broker.
    pub brokers: Option<String>,
    /// Partitions of topics the host creates (default 3).
    pub partitions: i32,
    /// The folder of Avro schemas, absolute (default `avro/` beside the manifest).
    pub schemas: PathBuf,
    /// Retries after the first failed attempt before a message is dead-lettered (default 3).
    pub retries: u32,
    /// The first back-off; each retry doubles it (default 1 s).
    pub backoff: Duration,
    /// How long a handled message id is remembered (default a day: redelivery after a crash or a
    /// rebalance comes within seconds, and every id costs Redis memory).
    pub dedup_ttl: Duration,
    /// librdkafka settings passed through to every client.
    pub client: BTreeMap<String, String>,
}

/// One application variable declared in `[variables]`.
#[derive(Debug, Clone, Default)]
pub struct VariableDecl {
    /// The value used when no provider has one.
    pub default: Option<String>,
    /// Whether start-up fails when no provider has a value.
    pub required: bool,
    /// Whether the value must never be logged.
    pub secret: bool,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The route pattern, or `None` for a private route that HTTP cannot reach.
    pub route: Option<String>,
    /// The component the route runs.
    pub component: String,
}

/// One `[component.NAME]` entry, resolved.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// The component's name (its key in `[component]`).
    pub name: String,
    /// The Wasm file, absolute.
    pub source: PathBuf,
    /// WASI environment variables.
    pub environment: BTreeMap<String, String>,
    /// Component variables: name to template (`"{{ app_var }}"` or a literal).
    pub variables: BTreeMap<String, String>,
    /// Hosts the component may reach (HTTP, Postgres, Redis).
    pub allowed_outbound_hosts: AllowedHosts,
    /// Key-value store labels the component may open.
    pub key_value_stores: Vec<String>,
    /// Kafka topics the component may publish to.
    pub kafka_publish: Vec<String>,
    /// Host folders (absolute) mounted read-write at a path inside the component.
    pub volumes: Vec<(PathBuf, String)>,
    /// How to build the source, if the manifest says.
    pub build: Option<BuildSpec>,
    /// The per-request deadline.
    pub request_timeout: Duration,
    /// The linear-memory limit of one instance, in bytes.
    pub memory_limit: u64,
    /// How many HTTP requests or Kafka messages one instance may serve (default 1: a fresh
    /// instance each).
    pub instance_reuse: u32,
}

/// `[component.NAME.build]`.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// The shell command that builds the component.
    pub command: String,
    /// The folder to run it in, absolute.
    pub workdir: PathBuf,
    /// Globs (relative to `workdir`) whose changes call for a rebuild.
    pub watch: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: Spanned<toml::Value>,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<Spanned<String>, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<Spanned<String>, RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "descriptive keys are accepted as Spin accepts them"
)]
struct RawApplication {
    name: String,
    version: Option<String>,
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    trigger: RawApplicationTriggers,
    database: Option<RawDatabase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    seed: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApplicationTriggers {
    http: Option<RawHttpAppSettings>,
    kafka: Option<RawKafkaAppSettings>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawKafkaAppSettings {
    brokers: Option<RawStrings>,
    partitions: Option<i32>,
    schemas: Option<String>,
    retries: Option<u32>,
    backoff_ms: Option<u64>,
    dedup_ttl_secs: Option<u64>,
    #[serde(default)]
    client: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawStrings {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafkaTrigger {
    component: Spanned<String>,
    topics: Vec<String>,
    group: Option<String>,
    concurrency: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpAppSettings {
    base: Option<Spanned<String>>,
    auth: Option<RawAuth>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    per_minute: u32,
    burst: u32,
    premium_per_minute: Option<u32>,
    premium_burst: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    key: Spanned<String>,
    #[serde(default)]
    public: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
    #[serde(default)]
    kafka: Vec<RawKafkaTrigger>,
    #[serde(default)]
    timer: Vec<RawTimerTrigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimerTrigger {
    component: Spanned<String>,
    every: Spanned<String>,
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "`id` and `executor` are accepted as Spin accepts them"
)]
struct RawHttpTrigger {
    id: Option<String>,
    route: Spanned<RawRoute>,
    component: Spanned<String>,
    executor: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private(RawPrivateRoute),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrivateRoute {
    private: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "`description` is accepted as Spin accepts it")]
struct RawComponent {
    description: Option<String>,
    source: Spanned<toml::Value>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    /// Host extension: topics the component may publish to.
    #[serde(default)]
    kafka_publish: Vec<String>,
    /// Host extension: host folders mounted read-write into the component.
    #[serde(default)]
    volumes: Vec<RawVolume>,
    build: Option<RawBuild>,
    /// Host extension: the per-request deadline in milliseconds.
    request_timeout_ms: Option<u64>,
    /// Host extension: the linear-memory limit of one instance in MiB.
    memory_limit_mib: Option<u64>,
    /// Host extension: HTTP requests or Kafka messages one instance may serve.
    instance_reuse: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVolume {
    source: String,
    destination: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    command: Spanned<toml::Value>,
    workdir: Option<String>,
    #[serde(default)]
    watch: Vec<String>,
}

/// A manifest error at a place in the file.
struct Located<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Located<'_> {
    fn error(
        &self,
        span: std::ops::Range<usize>,
        message: impl std::fmt::Display,
    ) -> anyhow::Error {
        let line = self.text[..span.start.min(self.text.len())]
            .lines()
            .count()
            .max(1);
        let line = if self.text[..span.start.min(self.text.len())].ends_with('\n') {
            line + 1
        } else {
            line
        };
        anyhow::anyhow!("{}:{line}: {message}", self.path.display())
    }
}

impl Manifest {
    /// Reads, parses and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read manifest {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Parses and checks manifest `text` that was read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        let at = Located { path, text };
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let dir = std::path::absolute(&dir).unwrap_or(dir);

        match raw.spin_manifest_version.get_ref() {
            toml::Value::Integer(2) => {}
            toml::Value::String(s) if s == "2" => {}
            other => {
                return Err(at.error(
                    raw.spin_manifest_version.span(),
                    format!("`spin_manifest_version` must be 2, found {other}"),
                ));
            }
        }
        let kafka = kafka_settings(&dir, raw.application.trigger.kafka.unwrap_or_default());
        let (base, auth, rate_limit) = match raw.application.trigger.http {
            Some(http) => (http.base, http.auth, http.rate_limit),
            None => (None, None, None),
        };
        let rate_limit = rate_limit.map(|r| {
            let free = Tier {
                per_minute: r.per_minute,
                burst: r.burst,
            };
            let premium = Tier {
                per_minute: r.premium_per_minute.unwrap_or(r.per_minute),
                burst: r.premium_burst.unwrap_or(r.burst),
            };
            (free, premium)
        });
        if let Some(base) = base
            && base.get_ref() != "/"
        {
            return Err(at.error(base.span(), "`base` other than \"/\" is not supported"));
        }

        let variables = check_variables(&at, raw.variables)?;
        let http_auth = auth.map(|a| check_auth(&at, a, &variables)).transpose()?;
        let mut components = BTreeMap::new();
        for (name, component) in raw.component {
            check_name(&at, &name, "component")?;
            let spec = check_component(&at, &dir, name.get_ref(), component, &variables)?;
            components.insert(name.into_inner(), spec);
        }

        let mut http_triggers = Vec::new();
        for trigger in raw.trigger.http {
            check_trigger_component(&at, &trigger.component, &components)?;
            let span = trigger.route.span();
            let route = match trigger.route.into_inner() {
                RawRoute::Path(route) => {
                    crate::trigger::routes::RoutePattern::parse(&route)
                        .map_err(|e| at.error(span.clone(), e))?;
                    Some(route)
                }
                RawRoute::Private(p) if p.private => None,
                RawRoute::Private(_) => {
                    return Err(at.error(span, "`route` must be a path or { private = true }"));
                }
            };
            http_triggers.push(HttpTrigger {
                route,
                component: trigger.component.into_inner(),
            });
        }

        let mut kafka_triggers = Vec::new();
        for trigger in raw.trigger.kafka {
            check_trigger_component(&at, &trigger.component, &components)?;
            let component = trigger.component.into_inner();
            kafka_triggers.push(KafkaTrigger {
                group: trigger.group.unwrap_or_else(|| component.clone()),
                component,
                topics: trigger.topics,
                concurrency: trigger.concurrency.unwrap_or(8).max(1),
            });
        }

        let mut timer_triggers = Vec::new();
        for trigger in raw.trigger.timer {
            check_trigger_component(&at, &trigger.component, &components)?;
            let every = parse_every(trigger.every.get_ref())
                .map_err(|e| at.error(trigger.every.span(), e))?;
            timer_triggers.push(TimerTrigger {
                component: trigger.component.into_inner(),
                every,
                path: trigger.path,
            });
        }

        let seed = raw.application.database.and_then(|d| d.seed);
        let seed = seed.map(|folder| dir.join(folder));
        Ok(Self {
            timer_triggers,
            path: path.to_path_buf(),
            dir,
            name: raw.application.name,
            variables,
            http_triggers,
            components,
            kafka_triggers,
            kafka,
            http_auth,
            rate_limit,
            seed,
        })
    }
}

/// Parses `30s`, `5m`, `1h` or `250ms`.
fn parse_every(text: &str) -> Result<Duration, String> {
    let bad = || format!("`every` must look like `30s`, `5m`, `1h` or `250ms`, found `{text}`");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let every = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(bad()),
    };
    if every.is_zero() {
        Err(bad())
    } else {
        Ok(every)
    }
}

fn check_auth(
    at: &Located<'_>,
    raw: RawAuth,
    variables: &BTreeMap<String, VariableDecl>,
) -> Result<HttpAuth> {
    if !variables.contains_key(raw.key.get_ref()) {
        return Err(at.error(
            raw.key.span(),
            format!(
                "auth `key` names variable `{}`, which is not in [variables]",
                raw.key.get_ref()
            ),
        ));
    }
    let mut public = Vec::new();
    for entry in raw.public {
        let route = entry.get_ref().rsplit(' ').next().unwrap_or_default();
        crate::trigger::routes::RoutePattern::parse(route)
            .map_err(|e| at.error(entry.span(), e))?;
        public.push(entry.into_inner());
    }
    Ok(HttpAuth {
        key_variable: raw.key.into_inner(),
        public,
    })
}

fn kafka_settings(dir: &Path, raw: RawKafkaAppSettings) -> KafkaSettings {
    KafkaSettings {
        brokers: raw.brokers.map(|b| match b {
            RawStrings::One(s) => s,
            RawStrings::Many(list) => list.join(","),
        }),
        partitions: raw.partitions.unwrap_or(3).max(1),
        schemas: dir.join(raw.schemas.as_deref().unwrap_or("avro")),
        retries: raw.retries.unwrap_or(3),
        backoff: Duration::from_millis(raw.backoff_ms.unwrap_or(1000)),
        dedup_ttl: Duration::from_secs(raw.dedup_ttl_secs.unwrap_or(24 * 3600)),
        client: raw.client,
    }
}

/// A trigger must name a component of `[component]`.
fn check_trigger_component(
    at: &Located<'_>,
    name: &Spanned<String>,
    components: &BTreeMap<String, ComponentSpec>,
) -> Result<()> {
    if components.contains_key(name.get_ref()) {
        return Ok(());
    }
    let message = format!("trigger names component `{name}`, which is not in [component]");
    Err(at.error(name.span(), message))
}

fn check_variables(
    at: &Located<'_>,
    raw: BTreeMap<Spanned<String>, RawVariable>,
) -> Result<BTreeMap<String, VariableDecl>> {
    let mut variables = BTreeMap::new();
    for (name, var) in raw {
        check_name(at, &name, "variable")?;
        if var.required && var.default.is_some() {
            return Err(at.error(
                name.span(),
                format!(
                    "variable `{}` cannot be both `required` and have a `default`",
                    name
                ),
            ));
        }
        let decl = VariableDecl {
            default: var.default,
            required: var.required,
            secret: var.secret,
        };
        variables.insert(name.into_inner(), decl);
    }
    Ok(variables)
}

fn check_component(
    at: &Located<'_>,
    dir: &Path,
    name: &str,
    raw: RawComponent,
    app_variables: &BTreeMap<String, VariableDecl>,
) -> Result<ComponentSpec> {
    let source = match raw.source.get_ref() {
        toml::Value::String(s) => dir.join(s),
        _ => {
            return Err(at.error(
                raw.source.span(),
                format!("`source` of component `{name}` must be a path to a .wasm file"),
            ));
        }
    };

    let mut variables = BTreeMap::new();
    for (key, template) in raw.variables {
        check_name(at, &key, "component variable")?;
        for reference in crate::capability::variables::template_references(template.get_ref())
            .map_err(|e| at.error(template.span(), e))?
        {
            if !app_variables.contains_key(&reference) {
                return Err(at.error(
                    template.span(),
                    format!(
                        "variable `{key}` refers to `{reference}`, which is not in [variables]"
                    ),
                ));
            }
        }
        variables.insert(key.into_inner(), template.into_inner());
    }

    let mut hosts = Vec::new();
    for host in &raw.allowed_outbound_hosts {
        hosts.push(host.get_ref().clone());
        AllowedHosts::parse(std::slice::from_ref(host.get_ref()))
            .map_err(|e| at.error(host.span(), e))?;
    }
    let allowed_outbound_hosts = AllowedHosts::parse(&hosts).map_err(anyhow::Error::msg)?;

    let build = raw.build.map(|b| check_build(at, dir, b)).transpose()?;
    let instance_reuse = match raw.instance_reuse {
        Some(reuse) if *reuse.get_ref() == 0 => {
            return Err(at.error(reuse.span(), "`instance_reuse` must be at least 1"));
        }
        Some(reuse) => reuse.into_inner(),
        None => 1,
    };
    Ok(ComponentSpec {
        name: name.to_string(),
        source,
        environment: raw.environment,
        variables,
        allowed_outbound_hosts,
        key_value_stores: raw.key_value_stores,
        kafka_publish: raw.kafka_publish,
        volumes: raw
            .volumes
            .into_iter()
            .map(|v| (dir.join(v.source), v.destination))
            .collect(),
        build,
        request_timeout: raw
            .request_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT),
        memory_limit: raw
            .memory_limit_mib
            .map(|m| m << 20)
            .unwrap_or(DEFAULT_MEMORY_LIMIT),
        instance_reuse,
    })
}

fn check_build(at: &Located<'_>, dir: &Path, raw: RawBuild) -> Result<BuildSpec> {
    let command = match raw.command.get_ref() {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(parts) if parts.iter().all(toml::Value::is_str) => parts
            .iter()
            .filter_map(toml::Value::as_str)
            .collect::<Vec<_>>()
            .join(" && "),
        _ => {
            return Err(at.error(
                raw.command.span(),
                "build `command` must be a string or strings",
            ));
        }
    };
    let workdir = raw
        .workdir
        .map(|w| dir.join(w))
        .unwrap_or_else(|| dir.to_path_buf());
    Ok(BuildSpec {
        command,
        workdir,
        watch: raw.watch,
    })
}

/// Spin names: lower-case ASCII letters, digits, `-` and `_`, starting with a letter.
fn check_name(at: &Located<'_>, name: &Spanned<String>, what: &str) -> Result<()> {
    let valid = name.get_ref().starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .get_ref()
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(at.error(
            name.span(),
            format!(
                "{what} name `{}` must start with a lower-case letter and hold only \
                 lower-case letters, digits, `-` and `_`",
                name.get_ref()
            ),
        ));
    }
    Ok(())
}

fn toml_error(path: &Path, text: &str, error: &toml::de::Error) -> anyhow::Error {
    let message = error.message();
    match error.span() {
        Some(span) => Located { path, text }.error(span, message),
        None => anyhow::anyhow!("{}: {message}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(Path::new("/app/spin.toml"), text)
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(_) => "no error".into(),
            Err(e) => e.to_string(),
        }
    }

    const GOOD: &str = r#"
spin_manifest_version = 2

[application]
name = "demo"

[variables]
token = { required = true, secret = true }
greeting = { default = "hi" }

[[trigger.http]]
route = "/hello/..."
component = "hello"

[[trigger.http]]
route = { private = true }
component = "hello"

[component.hello]
source = "target/hello.wasm"
allowed_outbound_hosts = ["https://example.com", "postgres://localhost"]
key_value_stores = ["default"]
variables = { message = "{{ greeting }}, friend" }
request_timeout_ms = 500
[component.hello.build]
command = "cargo build"
workdir = "hello"
watch = ["src/**/*.rs"]
"#;

    #[test]
    fn good_manifest_resolves_paths_and_defaults() -> Result<()> {
        let manifest = parse(GOOD)?;
        let hello = &manifest.components["hello"];
        assert_eq!(hello.source, Path::new("/app/target/hello.wasm"));
        assert_eq!(hello.request_timeout, Duration::from_millis(500));
        assert_eq!(hello.memory_limit, DEFAULT_MEMORY_LIMIT);
        assert_eq!(manifest.http_triggers.len(), 2);
        assert_eq!(manifest.http_triggers[1].route, None);
        assert!(manifest.variables["token"].secret);
        let build = hello.build.as_ref().map(|b| b.workdir.clone());
        assert_eq!(build, Some(PathBuf::from("/app/hello")));
        Ok(())
    }

    #[test]
    fn unknown_key_names_key_line_and_expected() {
        let text = GOOD.replace("request_timeout_ms = 500", "colour = \"blue\"");
        let message = error(&text);
        assert!(
            message.starts_with("/app/spin.toml:24: unknown field `colour`"),
            "{message}"
        );
        assert!(message.contains("expected one of"), "{message}");
    }

    #[test]
    fn trigger_naming_missing_component_fails() {
        let text = GOOD.replace(
            "component = \"hello\"\n\n[[trigger.http]]",
            "component = \"nope\"\n\n[[trigger.http]]",
        );
        assert_eq!(
            error(&text),
            "/app/spin.toml:13: trigger names component `nope`, which is not in [component]"
        );
    }

    #[test]
    fn wrong_manifest_version_fails() {
        let text = GOOD.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert_eq!(
            error(&text),
            "/app/spin.toml:2: `spin_manifest_version` must be 2, found 1"
        );
    }

    #[test]
    fn wrong_type_names_expectation() {
        let text = GOOD.replace("request_timeout_ms = 500", "request_timeout_ms = \"soon\"");
        let message = error(&text);
        assert!(
            message.starts_with("/app/spin.toml:24: invalid type: string"),
            "{message}"
        );
    }

    #[test]
    fn template_naming_unknown_variable_fails() {
        let text = GOOD.replace("{{ greeting }}", "{{ nothing }}");
        assert_eq!(
            error(&text),
            "/app/spin.toml:23: variable `message` refers to `nothing`, which is not in [variables]"
        );
    }

    #[test]
    fn bad_route_and_host_fail() {
        let text = GOOD.replace("\"/hello/...\"", "\"hello\"");
        assert_eq!(
            error(&text),
            "/app/spin.toml:12: route `hello` must start with `/`"
        );
        let text = GOOD.replace("https://example.com", "example.com");
        let message = error(&text);
        assert!(message.starts_with("/app/spin.toml:21: "), "{message}");
        assert!(message.contains("example.com"), "{message}");
    }

    #[test]
    fn required_with_default_fails() {
        let text = GOOD.replace(
            "{ required = true, secret = true }",
            "{ required = true, default = \"x\" }",
        );
        assert_eq!(
            error(&text),
            "/app/spin.toml:8: variable `token` cannot be both `required` and have a `default`"
        );
    }
}
