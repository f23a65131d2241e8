//! The HTTP trigger: routes each request to its component and runs it on a fresh instance.
//!
//! 1. hyper accepts a connection and hands each request to [`HttpTrigger::handle`].
//! 2. The router picks the component; the `spin-*` headers describe the match.
//! 3. The component's [`ProxyHandler`] instantiates a new store from the pre-linked component
//!    (`wasi:http` 0.2 or 0.3) and runs the request under its deadline and memory limit; a
//!    component whose manifest sets `instance_reuse` lets one instance serve that many.
//! 4. A trap answers 500, a deadline 504; neither touches another request's instance.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, InstantiationError, ProxyHandler, ProxyPre,
    ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};

use super::auth::{EdgeAuth, Refusal, error_body};
use super::rate_limit::{Decision, RateLimits};
use super::routes::{RouteMatch, Router};
use crate::component::Slot;
use crate::manifest::ComponentSpec;
use crate::state::{ComponentEnv, InstanceState};

/// The HTTP trigger of an application.
pub struct HttpTrigger {
    router: Router<usize>,
    components: Vec<Arc<Slot>>,
    auth: Option<EdgeAuth>,
    limits: Option<RateLimits>,
}

/// One version of a component, reachable over HTTP.
pub struct HttpComponent {
    name: Arc<str>,
    timeout: Duration,
    handler: ProxyHandler<Instances>,
}

impl HttpComponent {
    /// Prepares a component: `pre` is its pre-linked instance, `env` what each instance gets,
    /// `spec` its deadline and how many requests an instance may serve.
    pub fn new(pre: ProxyPre<InstanceState>, env: Arc<ComponentEnv>, spec: &ComponentSpec) -> Self {
        let name = env.grants.component.as_str().into();
        let timeout = spec.request_timeout;
        // A WASI 0.2 instance serves one request at a time; a 0.3 one, several at once.
        let concurrent = match &pre {
            ProxyPre::P2(_) => 1,
            ProxyPre::P3(_) => spec.instance_reuse.min(MAX_CONCURRENT_PER_INSTANCE),
        };
        let reuse = Reuse {
            total: spec.instance_reuse as usize,
            concurrent: concurrent as usize,
        };
        let handler = ProxyHandler::new(Instances {
            pre,
            env,
            timeout,
            reuse,
        });
        Self {
            name,
            timeout,
            handler,
        }
    }

    /// Runs one request on a fresh instance.
    pub async fn handle(&self, req: Request<WasiBody>) -> wasmtime::Result<Response<WasiBody>> {
        self.handler.handle((), req).await
    }
}

/// Requests one instance of a WASI 0.3 component may serve at once, when reuse is on.
const MAX_CONCURRENT_PER_INSTANCE: u32 = 16;

/// How long an instance that may serve more requests waits idle for the next one.
const IDLE_INSTANCE_TIMEOUT: Duration = Duration::from_secs(1);

/// How many requests one instance serves: in all, and at once.
#[derive(Clone, Copy)]
struct Reuse {
    total: usize,
    concurrent: usize,
}

/// Makes the instances of a component: by default a fresh one per request.
struct Instances {
    pre: ProxyPre<InstanceState>,
    env: Arc<ComponentEnv>,
    timeout: Duration,
    reuse: Reuse,
}

impl HandlerState for Instances {
    type StoreData = InstanceState;
    type WorkerExpiration = Deadline;
    type WorkerState = Requests;

    async fn instantiate(&self) -> wasmtime::Result<Instance<InstanceState, Deadline, Requests>> {
        let mut store = Store::new(self.pre_engine(), InstanceState::new(&self.env));
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_async_yield_and_update(1);
        store.set_epoch_deadline(1);
        let proxy = self.pre.instantiate_async(&mut store).await?;
        Ok(Instance {
            store,
            proxy,
            view: wasmtime_wasi_http::WasiHttpView::http,
            expiration: Deadline {
                timeout: self.timeout,
                idle: if self.reuse.total > 1 {
                    IDLE_INSTANCE_TIMEOUT
                } else {
                    Duration::ZERO
                },
                sleep: Box::pin(tokio::time::sleep(Duration::MAX)),
            },
            state: Requests {
                timeout: self.timeout,
                reuse: self.reuse,
                component: self.env.grants.component.clone(),
            },
        })
    }
}

impl Instances {
    fn pre_engine(&self) -> &wasmtime::Engine {
        match &self.pre {
            ProxyPre::P2(pre) => pre.instance_pre().engine(),
            ProxyPre::P3(pre) => pre.instance_pre().engine(),
        }
    }
}

/// Ends an instance whose request outlived the deadline, even if the guest never yields back,
/// and one that stayed idle past `idle`.
struct Deadline {
    timeout: Duration,
    idle: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for Deadline {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let this = self.get_mut();
        // The request's own deadline (`on_request_start`) is polled only when the guest yields
        // to its event loop; this one ends an instance that never does.
        let timeout = match status {
            WorkerStatus::Idle => this.idle,
            WorkerStatus::Requests | WorkerStatus::PostReturn => this.timeout,
        };
        let deadline = tokio::time::Instant::from_std(start + timeout);
        if this.sleep.deadline() != deadline {
            this.sleep.as_mut().reset(deadline);
        }
        this.sleep.as_mut().poll(cx)
    }
}

/// The requests of one instance: one by default, more when the manifest allows reuse.
struct Requests {
    timeout: Duration,
    reuse: Reuse,
    component: String,
}

impl WorkerState for Requests {
    type StoreData = InstanceState;
    type RequestData = ();

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.reuse.total {
            ShouldAccept::Never
        } else if concurrent >= self.reuse.concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, InstanceState>,
        _data: (),
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>> {
        Box::pin(tokio::time::sleep(self.timeout))
    }

    fn drop(&self, store: Store<InstanceState>, result: wasmtime::Result<()>) {
        if let Err(error) = result {
            tracing::debug!(
                component = %self.component,
                blame = "guest",
                error = %format!("{error:#}"),
                "instance failed"
            );
        }
        drop(store);
    }
}

impl HttpTrigger {
    /// Builds the trigger from `(route, component index)` pairs and the components.
    pub fn new(
        routes: Vec<(super::routes::RoutePattern, usize)>,
        components: Vec<Arc<Slot>>,
        auth: Option<EdgeAuth>,
        limits: Option<RateLimits>,
    ) -> Self {
        Self {
            router: Router::new(routes),
            components,
            auth,
            limits,
        }
    }

    /// Serves connections from `listener` until `shutdown` resolves, then lets in-flight
    /// requests finish within `grace`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) -> Result<()> {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, client) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "failed to accept a connection");
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            _ = stream.set_nodelay(true);
            let trigger = self.clone();
            let service = hyper::service::service_fn(move |req| {
                let trigger = trigger.clone();
                async move { Ok::<_, Infallible>(trigger.handle(req, client).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(error = %error, "connection ended with an error");
                }
            });
        }
        tracing::info!("http trigger stopped accepting; draining in-flight requests");
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(?grace, "in-flight requests outlived the shutdown deadline");
        }
        Ok(())
    }

    /// Answers one request.
    pub async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
        client: SocketAddr,
    ) -> Response<WasiBody> {
        let started = Instant::now();
        let path = req.uri().path().to_string();
        let Some((index, matched)) = self.router.route(&path) else {
            tracing::debug!(%path, status = 404, "no route");
            return plain(StatusCode::NOT_FOUND, "Not Found");
        };
        let slot = &self.components[index];
        let version = slot.current();
        let Some(component) = &version.http else {
            return plain(StatusCode::NOT_FOUND, "Not Found");
        };
        let _in_flight = slot.stats.request();
        let mut req = req.map(|body| body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
        if let Some(auth) = &self.auth {
            let method = req.method().clone();
            if let Err(refusal) = auth.check(&method, &path, req.headers_mut()).await {
                tracing::debug!(
                    component = %component.name,
                    %path,
                    code = refusal.code,
                    "refused at the edge"
                );
                return refused(&refusal, &path);
            }
        }
        let decision = match &self.limits {
            Some(limits) => Some(rate_check(limits, req.headers(), client).await),
            None => None,
        };
        if let Some(decision) = decision.filter(|d| !d.allowed) {
            tracing::debug!(component = %component.name, %path, "rate limited");
            return rate_limited(&decision, &path);
        }
        set_spin_headers(&mut req, &matched, client);

        let mut response = match component.handle(req).await {
            Ok(response) => response,
            Err(error) => failure(component, &error, started.elapsed()),
        };
        if let Some(decision) = decision {
            rate_headers(response.headers_mut(), &decision);
        }
        let status = response.status();
        let class = match status.as_u16() {
            500.. => "5xx",
            400..500 => "4xx",
            _ => "2xx",
        };
        crate::metrics::inc(
            "jm_http_requests_total",
            &[("component", &component.name), ("status", class)],
        );
        crate::metrics::observe(
            "jm_http_request_duration_seconds",
            &[("component", &component.name)],
            started.elapsed(),
        );
        tracing::debug!(
            component = %component.name,
            route = %matched.raw_route,
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        response
    }
}

/// The response for a request its component failed to answer: 504 once its deadline passed
/// (whichever of the two deadline checks noticed first), else 500.
fn failure(
    component: &HttpComponent,
    error: &wasmtime::Error,
    elapsed: Duration,
) -> Response<WasiBody> {
    let timed_out = elapsed >= component.timeout;
    let component = &*component.name;
    if timed_out || error.downcast_ref::<ExpirationError>().is_some() {
        tracing::debug!(component, blame = "guest", "request timed out");
        crate::metrics::inc(
            "jm_http_errors_total",
            &[("component", component), ("blame", "guest")],
        );
        return plain(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout");
    }
    let blame = if error.downcast_ref::<InstantiationError<()>>().is_some() {
        "host"
    } else {
        "guest"
    };
    tracing::debug!(component, blame, error = %format!("{error:#}"), "request failed");
    crate::metrics::inc(
        "jm_http_errors_total",
        &[("component", component), ("blame", blame)],
    );
    plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// Takes one request from the caller's bucket: its company's when the edge verified one.
async fn rate_check(
    limits: &RateLimits,
    headers: &http::HeaderMap,
    client: SocketAddr,
) -> Decision {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let company =
        text(super::auth::COMPANY_HEADER).map(|id| (id, text("jm-role").unwrap_or_default()));
    limits.check(company, &client.ip().to_string()).await
}

fn rate_headers(headers: &mut http::HeaderMap, decision: &Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
}

fn rate_limited(decision: &Decision, path: &str) -> Response<WasiBody> {
    let refusal = Refusal {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "RATE_LIMITED",
        message: "too many requests; retry later",
    };
    let mut response = refused(&refusal, path);
    rate_headers(response.headers_mut(), decision);
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        HeaderValue::from(decision.retry_after),
    );
    response
}

fn refused(refusal: &Refusal, path: &str) -> Response<WasiBody> {
    let body = Full::new(Bytes::from(error_body(refusal, path)))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = refusal.status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if refusal.status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<WasiBody> {
    let body = Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    response
}

/// Sets the `spin-*` headers Spin gives a component about the request and its route.
fn set_spin_headers(req: &mut Request<WasiBody>, matched: &RouteMatch, client: SocketAddr) {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let scheme = req.uri().scheme_str().unwrap_or("http");
    let full_url = format!("{scheme}://{host}{path_and_query}");
    let headers = req.headers_mut();
    headers.reserve(7 + matched.params.len());
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    };
    set(SPIN_FULL_URL, &full_url);
    set(SPIN_PATH_INFO, &matched.path_info);
    set(SPIN_MATCHED_ROUTE, &matched.raw_route);
    set(SPIN_BASE_PATH, "/");
    set(SPIN_RAW_COMPONENT_ROUTE, &matched.raw_route);
    set(SPIN_COMPONENT_ROUTE, &matched.component_route);
    set(SPIN_CLIENT_ADDR, &client.to_string());
    for (name, value) in &matched.params {
        let name = format!("spin-path-match-{}", name.to_ascii_lowercase());
        if let Ok(name) = HeaderName::try_from(name) {
            set(name, value);
        }
    }
}

const SPIN_FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
const SPIN_PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
const SPIN_MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
const SPIN_BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
const SPIN_RAW_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-raw-component-route");
const SPIN_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
const SPIN_CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");
