//! Ctrl-C and `kill` without leftovers: SIGINT, SIGTERM and SIGHUP only raise a flag; the
//! measurement loops check it and return [`BenchError::Interrupted`], so that the namespaces,
//! the gateway and the sessions are torn down by their guards as usual. A second signal exits
//! at once.
//!
//! A handler, not a blocked mask and `sigwait`: child processes (the gateway) inherit the
//! signal mask and would never see the SIGTERM that stops them, while caught signals revert to
//! their default action in a child at `execve`. Installing a handler is the one `unsafe` call
//! here; the handler itself only touches an atomic and calls `_exit`, both async-signal-safe.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use crate::error::{BenchError, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static ANNOUNCED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    if INTERRUPTED.swap(true, Ordering::Relaxed) {
        // SAFETY: `_exit` is async-signal-safe and ends the process without unwinding.
        unsafe { libc::_exit(130) };
    }
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP.
pub fn install() -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic and calls `_exit`, which is allowed in
        // a signal handler; no other handler for these signals is replaced by surprise.
        unsafe { sigaction(signal, &action) }
            .map_err(|e| BenchError::system(format!("handle {signal}"), e))?;
    }
    Ok(())
}

/// `Err(Interrupted)` once a signal arrived.
pub fn check() -> Result<()> {
    if !INTERRUPTED.load(Ordering::Relaxed) {
        return Ok(());
    }
    if !ANNOUNCED.swap(true, Ordering::Relaxed) {
        eprintln!("pptpd-bench: interrupted: stopping and cleaning up (again to exit at once)");
    }
    Err(BenchError::Interrupted)
}
