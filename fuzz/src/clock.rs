//! Fuzz-driven time for the sans-IO machines: a clock that only moves when the script says so,
//! either by a number of seconds or straight to the machine's next deadline.

use std::time::{Duration, Instant};

/// The harness's notion of "now".
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    now: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock at an arbitrary starting instant.
    pub fn new() -> Self {
        Clock {
            now: Instant::now(),
        }
    }

    /// The current instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves time forward for the time operation with argument `arg`: 0 jumps to `deadline`
    /// (the machine's `poll_timeout`, if it is in the future), anything else adds `arg`
    /// seconds. Returns the new now.
    pub fn advance(&mut self, arg: u8, deadline: Option<Instant>) -> Instant {
        let next = if arg == 0 {
            deadline.filter(|at| *at > self.now)
        } else {
            self.now.checked_add(Duration::from_secs(u64::from(arg)))
        };
        if let Some(next) = next {
            self.now = next;
        }
        self.now
    }
}
