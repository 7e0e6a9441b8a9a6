//! `vae serve`: the latent-space explorer, a local web page over one or more trained runs.
//! [`explorer`] answers the questions (decode, sample, interpolate, encode an upload),
//! [`api`] puts them on HTTP, [`limits`] bounds what each client may hold of the server,
//! [`upload`] turns a user's PNG into a model input and [`loadtest`] measures the server from
//! the outside.

#![forbid(unsafe_code)]

pub mod api;
pub mod explorer;
pub mod limits;
pub mod loadtest;
pub mod upload;

pub use limits::Limits;

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
            let stop = async {
                let _ = rx.await;
            };
            runtime.block_on(serve_connections(
                listener,
                app,
                limits,
                stop,
                std::future::pending(),
            ));
            // Requests still at the model finish on their own threads; nothing waits for them.
            runtime.shutdown_background();
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

    /// Stops accepting connections, lets the open requests finish within the shutdown
    /// timeout and waits for the threads.
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

/// Serves until Ctrl-C within `limits`; `on_ready` gets the bound address (useful with port
/// 0), `on_stopping` is called at the first Ctrl-C, after which the open requests get
/// `limits.shutdown_timeout` to finish and a second Ctrl-C drops them at once.
pub fn serve(
    state: AppState,
    addr: SocketAddr,
    limits: Limits,
    on_ready: impl FnOnce(SocketAddr),
    on_stopping: impl FnOnce(),
) -> Result<()> {
    limits.prepare()?;
    let runtime = runtime()?;
    let served = runtime.block_on(async move {
        let listener = bind(addr).await?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the server's address", e))?;
        on_ready(local);
        let first = async {
            ctrl_c().await;
            on_stopping();
        };
        serve_connections(
            listener,
            api::router(Arc::new(state)),
            limits,
            first,
            ctrl_c(),
        )
        .await;
        Ok(())
    });
    // Requests still at the model finish on their own threads; nothing waits for them.
    runtime.shutdown_background();
    served
}

/// The next Ctrl-C; never, when this process cannot listen for it (the server then runs
/// until it is killed, as it would without a handler).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Accepts connections until `stop`, each served over HTTP/1.1 within `limits` (the header
/// timeout, the body timeout of [`limits::body_deadline`], the write timeout of
/// [`limits::WriteDeadline`]), at most `limits.max_connections` at once; then lets the open
/// requests finish for `limits.shutdown_timeout` at most, or until `force`. (axum's own
/// `serve` sets no timeout, no connection limit and no end to its graceful shutdown.)
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: Limits,
    stop: impl std::future::Future<Output = ()>,
    force: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.body_timeout,
        limits::body_deadline,
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        // A failed accept (the client left, or no descriptor free) is that client's.
        let Some((stream, slot)) = accepted else {
            continue;
        };
        let io = TokioIo::new(limits::WriteDeadline::new(stream, limits.write_timeout));
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            // Errors after start (a dropped connection, a timeout) are the client's.
            let _ = connection.await;
            drop(slot);
        });
    }
    // Clients still in the listening queue are refused now rather than at the end.
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_timeout) => {}
        () = force => {}
    }
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
