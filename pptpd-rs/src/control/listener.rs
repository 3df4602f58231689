//! The TCP 1723 listener: accepts control connections and gives each its own
//! task, until shutdown. Control connections beyond a hard cap (sessions plus
//! headroom for half-open ones) are closed at once so that idle TCP
//! connections cannot exhaust the process's descriptors.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::{info, warn};

use super::connection;
use super::shared::Shared;

/// Accepts connections until `shared.shutdown` is cancelled.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shared.shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(v) => v,
            Err(e) => {
                warn!("accept on TCP 1723 failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let SocketAddr::V4(peer) = peer else {
            continue;
        };
        let cap = shared.settings().max_sessions.saturating_mul(2).max(16);
        if shared.tracker.len() >= cap {
            warn!(%peer, "refusing control connection: {cap} already open");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let shared2 = shared.clone();
        shared.tracker.spawn(async move {
            connection::run(stream, peer, shared2).await;
        });
    }
    info!("stopped accepting control connections");
}
