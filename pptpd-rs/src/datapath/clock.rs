//! A coarse process-wide clock for per-packet time stamps (idle detection):
//! whole seconds since the data plane started, cheap to store in an atomic.

use std::sync::OnceLock;
use std::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Seconds from the process's clock epoch to `now` (0 for instants before it).
pub fn coarse_secs(now: Instant) -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    now.saturating_duration_since(epoch).as_secs()
}
