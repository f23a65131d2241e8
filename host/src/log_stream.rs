//! Component stdout and stderr, turned into host log lines tagged with the component.
//!
//! Output is cut into lines; each complete line becomes one `tracing` event with target
//! `guest`, so `RUST_LOG=guest=warn` silences components without silencing the host.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// One output stream of one instance.
#[derive(Clone)]
pub struct LogStream {
    component: Arc<str>,
    stream: &'static str,
    partial: Arc<Mutex<Vec<u8>>>,
}

impl LogStream {
    /// The stdout of an instance of `component`.
    pub fn stdout(component: &str) -> Self {
        Self::new(component, "stdout")
    }

    /// The stderr of an instance of `component`.
    pub fn stderr(component: &str) -> Self {
        Self::new(component, "stderr")
    }

    fn new(component: &str, stream: &'static str) -> Self {
        Self {
            component: component.into(),
            stream,
            partial: Arc::default(),
        }
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut partial = self
            .partial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        partial.extend_from_slice(bytes);
        while let Some(end) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            self.emit(&line[..end]);
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        tracing::info!(
            target: "guest",
            component = %self.component,
            stream = self.stream,
            "{line}"
        );
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        if Arc::strong_count(&self.partial) == 1 {
            let partial = self.partial.lock().map(|p| p.clone()).unwrap_or_default();
            if !partial.is_empty() {
                self.emit(&partial);
            }
        }
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
