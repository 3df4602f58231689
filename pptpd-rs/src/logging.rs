//! Logging: `tracing` to standard error, in the foreground.
//!
//! `RUST_LOG` overrides the level; otherwise `info`, or `debug` with `-d`/`debug`,
//! which adds every control message and PPP packet in pppd's `debug` style
//! (`rcvd [LCP ConfReq id=0x1 <magic 0x1a2b3c4d>]`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call once.
pub fn init(debug: bool) {
    let default = if debug { "info,pptpd=debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
