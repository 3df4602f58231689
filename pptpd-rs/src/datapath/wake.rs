//! Waking a worker that sleeps in `poll`: an eventfd plus two flags so that
//! producers only pay the system call when the worker really sleeps.
//!
//! Producers queue their item, raise `pending`, then look at `sleeping`; the
//! worker clears `pending` before it drains its queues, and before it sleeps it
//! raises `sleeping` and then looks at `pending`. With sequentially consistent
//! operations on both sides, either the worker sees the new item's `pending`
//! or the producer sees `sleeping` and writes the eventfd: no wake-up is lost.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::eventfd::{EfdFlags, EventFd};

/// The wake-up side shared by a worker and everyone who feeds it.
#[derive(Debug)]
pub struct Wake {
    event: EventFd,
    pending: AtomicBool,
    sleeping: AtomicBool,
}

impl Wake {
    /// A new, nonblocking eventfd.
    pub fn new() -> std::io::Result<Self> {
        let event = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?;
        Ok(Self {
            event,
            pending: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
        })
    }

    /// Called by a producer after it queued something.
    pub fn notify(&self) {
        self.pending.store(true, Ordering::SeqCst);
        if self.sleeping.swap(false, Ordering::SeqCst) {
            let _ = self.event.write(1);
        }
    }

    /// Called by the worker before it drains its queues.
    pub fn begin_turn(&self) {
        self.pending.store(false, Ordering::SeqCst);
    }

    /// Called by the worker before `poll`; `false` means something arrived: do not sleep.
    pub fn try_sleep(&self) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        if self.pending.load(Ordering::SeqCst) {
            self.sleeping.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Called by the worker after `poll` returned.
    pub fn woke(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
        let _ = self.event.read();
    }
}

impl AsFd for Wake {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.event.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_before_sleep_cancels_the_sleep() {
        let wake = Wake::new().unwrap();
        wake.begin_turn();
        wake.notify();
        assert!(!wake.try_sleep());
    }

    #[test]
    fn a_notification_while_asleep_makes_the_eventfd_readable() {
        let wake = Wake::new().unwrap();
        wake.begin_turn();
        assert!(wake.try_sleep());
        wake.notify();
        assert_eq!(wake.event.read().unwrap(), 1);
        // Without a sleeper, no write happens.
        wake.woke();
        wake.notify();
        assert!(wake.event.read().is_err());
    }
}
