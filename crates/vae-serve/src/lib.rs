//! `vae serve`: the latent-space explorer, a local web page over one or more trained runs.
//! [`explorer`] answers the questions (decode, sample, interpolate, encode an upload),
//! [`api`] puts them on HTTP, [`upload`] turns a user's PNG into a model input and
//! [`loadtest`] measures the server from the outside.

#![forbid(unsafe_code)]

pub mod api;
pub mod explorer;
pub mod loadtest;
pub mod upload;

use api::AppState;
use explorer::Explorer;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use vae::{Error, Result};

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Run folders, each shown as one entry of the page's run menu.
    pub runs: Vec<PathBuf>,
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// Device for the models (default: each run's own).
    pub device: Option<String>,
    /// Test images encoded for the map.
    pub map_limit: usize,
}

/// Loads every run, naming each by its folder (`name`, `name-2`, ... when two folders share a
/// name).
pub fn load(options: &ServeOptions) -> Result<AppState> {
    if options.runs.is_empty() {
        return Err(Error::Config(
            "give at least one run folder to serve (e.g. `vae serve runs/fmnist-mlp`)".into(),
        ));
    }
    let mut explorers: Vec<Arc<Explorer>> = Vec::new();
    for dir in &options.runs {
        let base = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty() && n != "..")
            .unwrap_or_else(|| "run".into());
        let mut name = base.clone();
        let mut k = 2;
        while explorers.iter().any(|e| e.info.name == name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        let explorer = Explorer::load(dir, name, options.device.as_deref(), options.map_limit)?;
        explorers.push(Arc::new(explorer));
    }
    Ok(AppState { explorers })
}

/// What one client may hold of the server: without these, clients that open connections and
/// never finish a request (half a header, or nothing) would hold them open for good, and
/// enough of them would use up the process's file descriptors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A connection whose request headers have not all arrived this long after it was opened
    /// (or after its previous answer, on a kept-alive connection) is closed.
    pub header_timeout: Duration,
    /// Connections served at once; further ones wait in the listening queue until one closes.
    /// A connection costs a descriptor and a few kB, so the limit is there to keep the
    /// process's descriptors, not to ration clients: clients past it wait for the header
    /// timeout of those before them.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Descriptors the process keeps for itself beside the connections (runs, data, threads).
const OTHER_FILES: u64 = 256;

impl Limits {
    /// Refuses limits that serve nobody, and raises this process's soft limit of open files
    /// (often 1024) toward what the connections need, as far as the hard limit allows: each
    /// connection is a descriptor, and without one left the server could accept nobody.
    fn prepare(&self) -> Result<()> {
        if self.header_timeout.is_zero() || self.max_connections == 0 {
            return Err(Error::Config(
                "--header-timeout and --max-connections must be above 0 (defaults: 10 s, 4096)"
                    .into(),
            ));
        }
        // Below the hard limit the connections past it wait until others close (see `accept`).
        let _ = rlimit::increase_nofile_limit(self.max_connections as u64 + OTHER_FILES);
        Ok(())
    }
}

/// A server running on its own threads; dropping it (or [`Server::stop`]) shuts it down.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (port 0 picks one) and serves `state` in the background within `limits`.
    pub fn start(state: AppState, addr: SocketAddr, limits: Limits) -> Result<Server> {
        limits.prepare()?;
        let runtime = runtime()?;
        let listener = runtime.block_on(bind(addr))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the server's address", e))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = api::router(Arc::new(state));
        let thread = std::thread::spawn(move || {
            runtime.block_on(serve_connections(listener, app, limits, async {
                let _ = rx.await;
            }));
        });
        Ok(Server {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops accepting connections, finishes the open requests and waits for the threads.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Serves until Ctrl-C within `limits`; `on_ready` gets the bound address (useful with port 0).
pub fn serve(
    state: AppState,
    addr: SocketAddr,
    limits: Limits,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    limits.prepare()?;
    let runtime = runtime()?;
    runtime.block_on(async move {
        let listener = bind(addr).await?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the server's address", e))?;
        on_ready(local);
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve_connections(listener, api::router(Arc::new(state)), limits, ctrl_c).await;
        Ok(())
    })
}

/// Accepts connections until `shutdown`, each served over HTTP/1.1 with the header timeout of
/// `limits`, at most `limits.max_connections` at once; then lets the open requests finish.
/// (axum's own `serve` sets neither a header timeout nor a connection limit.)
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        // A failed accept (the client left, or no descriptor free) is that client's.
        let Some((stream, slot)) = accepted else {
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors after start (a dropped connection, a header timeout) are the client's.
            let _ = connection.await;
            drop(slot);
        });
    }
    graceful.shutdown().await;
}

/// The next connection, once a slot is free.
async fn accept(
    listener: &tokio::net::TcpListener,
    slots: &Arc<tokio::sync::Semaphore>,
) -> Option<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
    let slot = slots.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _)) => Some((stream, slot)),
        Err(_) => {
            // Out of descriptors, say: a moment for connections to close.
            tokio::time::sleep(Duration::from_millis(10)).await;
            None
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the server's threads", e))
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::io(
            format!(
                "cannot listen on {addr} (pick another port with --port, or --port 0 for any free one)"
            ),
            e,
        )
    })
}
