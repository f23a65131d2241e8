//! Plain WASI 0.2 HTTP component (world `wasi:http/proxy`, built on the `wasi` crate, not
//! spin-sdk): answers `p2 {METHOD} {path_with_query}\n` followed by the streamed request body.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse,
    ResponseOutparam,
};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// Largest slice `blocking-write-and-flush` accepts in one call.
const MAX_WRITE: usize = 4096;
/// How many bytes to ask for per read of the incoming body.
const READ_CHUNK: u64 = 64 * 1024;

struct Echo;

wasi::http::proxy::export!(Echo);

impl Guest for Echo {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        if let Err(message) = echo(request, response_out) {
            // The response head is already sent at this point; all we can do is log.
            eprintln!("p2-echo: {message}");
        }
    }
}

/// Sends the response head, then the greeting line, then copies the body chunk by chunk.
fn echo(request: IncomingRequest, response_out: ResponseOutparam) -> Result<(), String> {
    let line = format!(
        "p2 {} {}\n",
        method_name(&request.method()),
        request.path_with_query().unwrap_or_default()
    );

    let incoming = match request.consume() {
        Ok(body) => body,
        Err(()) => {
            let error = ErrorCode::InternalError(Some("request body already taken".into()));
            ResponseOutparam::set(response_out, Err(error));
            return Err("could not take the request body".into());
        }
    };

    let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())])
        .map_err(|e| format!("bad header: {e:?}"))?;
    let response = OutgoingResponse::new(headers);
    let outgoing = response
        .body()
        .map_err(|()| "response body already taken")?;
    ResponseOutparam::set(response_out, Ok(response));

    let output = outgoing
        .write()
        .map_err(|()| "response stream already taken")?;
    write_all(&output, line.as_bytes())?;
    let input = incoming
        .stream()
        .map_err(|()| "request stream already taken")?;
    let copied = copy_stream(&input, &output);

    drop(input);
    drop(IncomingBody::finish(incoming));
    drop(output);
    copied?;
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("finish failed: {e:?}"))
}

/// Copies `input` to `output` until the input stream closes.
fn copy_stream(input: &InputStream, output: &OutputStream) -> Result<(), String> {
    loop {
        match input.blocking_read(READ_CHUNK) {
            Ok(chunk) => write_all(output, &chunk)?,
            Err(StreamError::Closed) => return Ok(()),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("read failed: {}", e.to_debug_string()));
            }
        }
    }
}

/// Writes all of `data`, in slices small enough for `blocking-write-and-flush`.
fn write_all(output: &OutputStream, data: &[u8]) -> Result<(), String> {
    for slice in data.chunks(MAX_WRITE) {
        output
            .blocking_write_and_flush(slice)
            .map_err(|e| format!("write failed: {e:?}"))?;
    }
    Ok(())
}

/// The request method as it appears on the wire.
fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    }
}
