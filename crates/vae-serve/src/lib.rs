//! `vae serve`: the latent-space explorer, a local web page over one or more trained runs.
//! [`explorer`] answers the questions (decode, sample, interpolate, encode an upload),
//! [`api`] puts them on HTTP, [`upload`] turns a user's PNG into a model input and
//! [`loadtest`] measures the server from the outside.

pub mod api;
pub mod explorer;
pub mod loadtest;
pub mod upload;

use api::AppState;
use explorer::Explorer;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
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
    /// Binds `addr` (port 0 picks one) and serves `state` in the background.
    pub fn start(state: AppState, addr: SocketAddr) -> Result<Server> {
        let runtime = runtime()?;
        let listener = runtime.block_on(bind(addr))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the server's address", e))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = api::router(Arc::new(state));
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                // Errors after start (a dropped connection) are per request, not the server's.
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
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

/// Serves until Ctrl-C; `on_ready` gets the bound address (useful with port 0).
pub fn serve(state: AppState, addr: SocketAddr, on_ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let runtime = runtime()?;
    runtime.block_on(async move {
        let listener = bind(addr).await?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the server's address", e))?;
        on_ready(local);
        axum::serve(listener, api::router(Arc::new(state)))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Error::io(format!("the server on {local} stopped"), e))
    })
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
