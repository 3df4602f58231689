//! The link's timers as one small table (the quinn `connection/timer.rs` habit): each
//! [`Timer`] has at most one deadline and `poll_timeout` is the earliest of them.

use std::time::{Duration, Instant};

/// `now + after`, saturating far in the future instead of panicking on an absurd duration.
pub(crate) fn deadline(now: Instant, after: Duration) -> Instant {
    now.checked_add(after)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// One timer of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// LCP Restart timer (RFC 1661 §4.6).
    LcpRestart,
    /// CHAP Challenge (server) or Response (client) retransmission.
    ChapRestart,
    /// CCP Restart timer.
    CcpRestart,
    /// IPCP Restart timer.
    IpcpRestart,
    /// LCP Echo-Request keepalive.
    Echo,
    /// Overall authentication deadline.
    Auth,
}

impl Timer {
    /// Every timer, in table order.
    pub(crate) const VALUES: [Timer; 6] = [
        Timer::LcpRestart,
        Timer::ChapRestart,
        Timer::CcpRestart,
        Timer::IpcpRestart,
        Timer::Echo,
        Timer::Auth,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines of all timers.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; Timer::VALUES.len()],
}

impl TimerTable {
    /// Arms `timer` for `deadline`, replacing any previous deadline.
    pub(crate) fn set(&mut self, timer: Timer, deadline: Option<Instant>) {
        if let Some(slot) = self.deadlines.get_mut(timer.index()) {
            *slot = deadline;
        }
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.set(timer, None);
    }

    /// The deadline of `timer`.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines.get(timer.index()).copied().flatten()
    }

    /// Disarms every timer.
    pub(crate) fn clear(&mut self) {
        self.deadlines = Default::default();
    }

    /// The earliest deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer whose deadline is at or before `now`.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::VALUES
            .into_iter()
            .filter(|timer| self.get(*timer).is_some_and(|deadline| deadline <= now))
            .min_by_key(|timer| self.get(*timer))?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_expires_first() {
        let start = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::Echo, Some(start + Duration::from_secs(5)));
        table.set(Timer::LcpRestart, Some(start + Duration::from_secs(3)));
        assert_eq!(table.next_timeout(), Some(start + Duration::from_secs(3)));
        assert_eq!(table.take_expired(start), None);
        let later = start + Duration::from_secs(6);
        assert_eq!(table.take_expired(later), Some(Timer::LcpRestart));
        assert_eq!(table.take_expired(later), Some(Timer::Echo));
        assert_eq!(table.take_expired(later), None);
        assert_eq!(table.next_timeout(), None);
    }
}
