//! What one client may hold of the server, and how each hold is ended: a header that does not
//! arrive (hyper's header timeout), a body that does not arrive ([`body_deadline`]), an
//! answer that the client does not take ([`WriteDeadline`]), and stopping the server (the
//! shutdown timeout). Without them a client that stalls at any step keeps its connection slot
//! for good, and `max_connections` such clients lock everyone else out.

use crate::api::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use vae::{Error, Result};

/// The limits of the server, each a flag of `vae serve` and `vae loadtest`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A connection whose request headers have not all arrived this long after it was opened
    /// (or after its previous answer, on a kept-alive connection) is closed.
    pub header_timeout: Duration,
    /// A request whose body has not all arrived this long after its headers is answered 408
    /// and its connection closed. A deadline for the whole body, not for each piece, so a
    /// client cannot hold on by trickling a byte at a time.
    pub body_timeout: Duration,
    /// A connection whose answer makes no progress this long (its client reads none of it)
    /// is cut. Progress, not the whole answer: a slow reader that keeps reading is served.
    pub write_timeout: Duration,
    /// Stopping the server waits this long at most for the open requests, then drops them.
    pub shutdown_timeout: Duration,
    /// Connections served at once; further ones wait in the listening queue until one closes.
    /// A connection costs a descriptor and a few kB, so the limit is there to keep the
    /// process's descriptors, not to ration clients: clients past it wait for the timeouts
    /// of those before them.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            // An 8 MiB upload (the largest) at 300 kB/s.
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Descriptors the process keeps for itself beside the connections (runs, data, threads).
const OTHER_FILES: u64 = 256;

impl Limits {
    /// Refuses limits that serve nobody, and connection limits beyond what the server can
    /// count (tokio's semaphore panics past [`Semaphore::MAX_PERMITS`]).
    pub fn check(&self) -> Result<()> {
        let defaults = Limits::default();
        for (flag, value, default) in [
            (
                "--header-timeout",
                self.header_timeout,
                defaults.header_timeout,
            ),
            ("--body-timeout", self.body_timeout, defaults.body_timeout),
            (
                "--write-timeout",
                self.write_timeout,
                defaults.write_timeout,
            ),
            (
                "--shutdown-timeout",
                self.shutdown_timeout,
                defaults.shutdown_timeout,
            ),
        ] {
            if value.is_zero() {
                return Err(Error::Config(format!(
                    "{flag} must be above 0 seconds (default {})",
                    default.as_secs()
                )));
            }
        }
        if !(1..=Semaphore::MAX_PERMITS).contains(&self.max_connections) {
            return Err(Error::Config(format!(
                "--max-connections must be 1 to {} (got {}; default {})",
                Semaphore::MAX_PERMITS,
                self.max_connections,
                defaults.max_connections
            )));
        }
        Ok(())
    }

    /// [`Limits::check`], then raises this process's soft limit of open files (often 1024)
    /// toward what the connections need, as far as the hard limit allows: each connection is
    /// a descriptor, and without one left the server could accept nobody.
    pub(crate) fn prepare(&self) -> Result<()> {
        self.check()?;
        // Below the hard limit the connections past it wait until others close (see `accept`).
        let _ = rlimit::increase_nofile_limit(self.max_connections as u64 + OTHER_FILES);
        Ok(())
    }
}

/// Middleware that gives each request's body `timeout` from its headers to arrive whole; a
/// request whose body is late is answered 408 and its connection closed (hyper cannot find
/// the next request behind an unread body).
pub(crate) async fn body_deadline(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let late = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(DeadlineBody {
        body,
        deadline: Box::pin(tokio::time::sleep(timeout)),
        late: late.clone(),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    if !late.load(Ordering::Relaxed) {
        return response;
    }
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "the request body did not arrive within {} s of its headers (the server's --body-timeout); send it at once",
            timeout.as_secs_f64()
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline has passed while it waits for more.
struct DeadlineBody {
    body: Body,
    deadline: Pin<Box<Sleep>>,
    /// Set when the deadline failed the body, for [`body_deadline`]'s answer.
    late: Arc<AtomicBool>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                this.late.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(axum::Error::new(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request body did not arrive within the body timeout",
                )))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket whose writes fail once one has waited `timeout` for the client to
/// take anything: a client that never reads a large answer is cut instead of holding its
/// connection (and the server's shutdown) for good.
pub(crate) struct WriteDeadline {
    stream: TcpStream,
    timeout: Duration,
    /// Running while a write waits for room in the socket.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl WriteDeadline {
    pub(crate) fn new(stream: TcpStream, timeout: Duration) -> Self {
        WriteDeadline {
            stream,
            timeout,
            stalled: None,
        }
    }

    /// `polled`, a write's outcome, unless the write has waited past the timeout.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                // Closed with a reset, not a FIN queued behind the answer nobody reads: the
                // kernel drops the answer and the client learns at once.
                let _ = self.stream.set_zero_linger();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client took none of its answer within the write timeout",
                )))
            }
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}
