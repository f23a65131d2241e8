//! Outbound HTTP for both WASI versions, limited to the component's `allowed_outbound_hosts`.
//!
//! A refused request fails inside the component with `HTTP request denied`; an allowed one is
//! sent by wasmtime-wasi-http's client.

use std::sync::Arc;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::Grants;

/// The `wasi:http` hooks of one instance: checks every outgoing request against its grants.
pub struct OutboundHttp(pub Arc<Grants>);

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let url = request.uri().to_string();
        if let Err(refusal) = self.0.allowed_hosts.check_url(&url) {
            tracing::debug!(component = %self.0.component, %refusal, "outbound request refused");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
