//! The timers of one control connection (RFC 2637 §3.1.4), kept in a small table so that
//! `poll_timeout` is the earliest deadline and `handle_timeout` fires the expired ones.

use std::time::Instant;

/// One control-connection timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Waiting for the Start-Control-Connection-Request (server) or -Reply (client).
    Establish,
    /// Silence from the peer: send an Echo-Request when it fires.
    Keepalive,
    /// Waiting for the Echo-Reply.
    EchoReply,
    /// Waiting for the Stop-Control-Connection-Reply.
    StopReply,
}

impl Timer {
    /// Every timer, in the order expired timers are handled.
    const ALL: [Timer; 4] = [
        Timer::Establish,
        Timer::StopReply,
        Timer::EchoReply,
        Timer::Keepalive,
    ];

    /// The timer's slot in the table.
    const fn slot(self) -> usize {
        match self {
            Timer::Establish => 0,
            Timer::Keepalive => 1,
            Timer::EchoReply => 2,
            Timer::StopReply => 3,
        }
    }
}

/// Deadlines of the control-connection timers.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; 4],
}

impl TimerTable {
    /// Arms `timer` to fire at `at`.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(slot) = self.deadlines.get_mut(timer.slot()) {
            *slot = Some(at);
        }
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        if let Some(slot) = self.deadlines.get_mut(timer.slot()) {
            *slot = None;
        }
    }

    /// Disarms every timer.
    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; 4];
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns one timer whose deadline is at or before `now`.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL.into_iter().find(|timer| {
            self.deadlines
                .get(timer.slot())
                .copied()
                .flatten()
                .is_some_and(|at| at <= now)
        })?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reports_the_earliest_deadline_and_fires_expired_timers_once() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::Keepalive, t0 + Duration::from_secs(60));
        table.set(Timer::StopReply, t0 + Duration::from_secs(10));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(table.take_expired(t0 + Duration::from_secs(9)), None);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(table.take_expired(later), Some(Timer::StopReply));
        assert_eq!(table.take_expired(later), Some(Timer::Keepalive));
        assert_eq!(table.take_expired(later), None);
        table.set(Timer::EchoReply, later);
        table.stop_all();
        assert_eq!(table.next(), None);
    }
}
