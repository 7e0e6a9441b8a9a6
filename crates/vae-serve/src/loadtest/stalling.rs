//! The stalling clients of `vae loadtest`: connections that stop at one step of a request
//! (half a header, a body cut short, answers never read), and what the server made of each.

use super::{SlowClients, UNREAD_REQUESTS};
use crate::Limits;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use vae::{Error, Result};

/// Where a stalling client stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Stall {
    /// Half a request header.
    Header,
    /// A whole header announcing a body of 100 bytes, and 8 of them.
    Body,
    /// [`UNREAD_REQUESTS`] requests at once, and no answer read.
    Reader,
}

/// What became of one stalling client.
enum Slow {
    /// Closed by the server this many seconds after its last byte sent.
    Closed(f64),
    /// Still open at its deadline.
    Open,
    /// Never connected: the listening queue turned it away for good, or it was refused.
    NotConnected,
}

/// Opens, for each kind in `stalls`, that many connections to `addr` that stop at that step
/// (requests to run `run`), and waits for the server to close each: within the longest timeout
/// of `limits` for each wave of `max_connections` of them (those past the limit wait in the
/// listening queue for a slot), plus 5 s, from its last byte sent. A connection the full
/// listening queue turned away is retried by the kernel (after 1, 3, 7, 15, 31 and 63 s), so
/// connecting may take up to 75 s. `None` for a kind none was asked of.
pub(super) fn stalling_clients(
    addr: SocketAddr,
    run: &str,
    stalls: [(Stall, usize); 3],
    limits: Limits,
) -> Result<[Option<SlowClients>; 3]> {
    let total: usize = stalls.iter().map(|&(_, n)| n).sum();
    if total == 0 {
        return Ok([None, None, None]);
    }
    let waves = u32::try_from(total.div_ceil(limits.max_connections)).unwrap_or(u32::MAX);
    let longest = limits
        .header_timeout
        .max(limits.body_timeout)
        .max(limits.write_timeout);
    // At most a year, so that the deadlines below stay within the clock's range.
    let patience = longest
        .saturating_mul(waves.saturating_add(1))
        .saturating_add(Duration::from_secs(5))
        .min(Duration::from_secs(365 * 24 * 3600));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the slow clients", e))?;
    let stalled_body = format!(
        "POST /api/runs/{run}/decode HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"z\": [[",
    );
    runtime.block_on(async move {
        let mut waiting = tokio::task::JoinSet::new();
        for (i, (kind, n)) in stalls.into_iter().enumerate() {
            let request: std::sync::Arc<[u8]> = match kind {
                Stall::Header => {
                    b"POST /api/runs/x/decode HTTP/1.1\r\nHost: localhost\r\nContent-Ty"[..].into()
                }
                Stall::Body => stalled_body.as_bytes().into(),
                Stall::Reader => "GET /app.js HTTP/1.1\r\nHost: localhost\r\n\r\n"
                    .repeat(UNREAD_REQUESTS)
                    .into_bytes()
                    .into(),
            };
            for _ in 0..n {
                let request = request.clone();
                waiting.spawn(async move { (i, stall(addr, kind, &request, patience).await) });
            }
        }
        let mut held: [Option<SlowClients>; 3] =
            stalls.map(|(_, n)| (n > 0).then(SlowClients::default));
        while let Some(done) = waiting.join_next().await {
            let Ok((i, slow)) = done else {
                continue;
            };
            let Some(tally) = held[i].as_mut() else {
                continue;
            };
            match slow {
                Slow::Closed(seconds) => {
                    tally.opened += 1;
                    tally.closed += 1;
                    tally.longest_seconds = tally.longest_seconds.max(seconds);
                }
                Slow::Open => {
                    tally.opened += 1;
                    tally.still_open += 1;
                }
                Slow::NotConnected => {}
            }
        }
        Ok(held)
    })
}

/// One stalling client of `kind`: connects, sends `request` and waits for the server to close
/// the connection, `patience` at most from when it starts sending.
async fn stall(addr: SocketAddr, kind: Stall, request: &[u8], patience: Duration) -> Slow {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::{sleep, timeout, timeout_at};
    let connect = async {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }?;
        if kind == Stall::Reader {
            // A small window, so that the server's answers pile up in its own buffers.
            socket.set_recv_buffer_size(4096)?;
        }
        socket.connect(addr).await
    };
    let Ok(Ok(mut stream)) = timeout(Duration::from_secs(75), connect).await else {
        return Slow::NotConnected;
    };
    let sent = Instant::now();
    let deadline = tokio::time::Instant::now() + patience;
    match timeout_at(deadline, stream.write_all(request)).await {
        Ok(Ok(())) => {}
        // Cut while it was still sending (an unread-response client whose requests wait
        // behind its unread answers).
        Ok(Err(_)) => return Slow::Closed(sent.elapsed().as_secs_f64()),
        Err(_) => return Slow::Open,
    }
    let sent = Instant::now();
    if kind == Stall::Reader {
        // Reads nothing: watches for the server's reset (or close) without taking any of
        // the answers.
        loop {
            match timeout_at(deadline, stream.ready(tokio::io::Interest::READABLE)).await {
                Err(_) => return Slow::Open,
                Ok(Err(_)) => return Slow::Closed(sent.elapsed().as_secs_f64()),
                Ok(Ok(ready)) if ready.is_read_closed() || ready.is_error() => {
                    return Slow::Closed(sent.elapsed().as_secs_f64());
                }
                Ok(Ok(_)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Slow::Open;
                    }
                    sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
    let mut buffer = [0u8; 1024];
    loop {
        match timeout_at(deadline, stream.read(&mut buffer)).await {
            // Closed, or reset: what the server does with it is done.
            Ok(Ok(0) | Err(_)) => return Slow::Closed(sent.elapsed().as_secs_f64()),
            // An answer (408, say) before the close.
            Ok(Ok(_)) => continue,
            Err(_) => return Slow::Open,
        }
    }
}
