//! The sessions whose link is up, for the status report an operator asks for with SIGUSR1
//! (one log line per session: user, addresses, how long, traffic). Written at link up and
//! release only, never on the data path.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pptp_proto::CallId;

use crate::datapath::session::SessionStats;

/// One session whose link is up.
pub struct LiveSession {
    /// The authenticated user name.
    pub user: String,
    /// The client's underlay address (where its PPTP connection comes from).
    pub peer: Ipv4Addr,
    /// The address it got from the pool.
    pub client: Ipv4Addr,
    /// When the link came up.
    pub since: Instant,
    /// Its traffic counters, shared with the data path.
    pub stats: Arc<SessionStats>,
}

/// The live sessions, by our call ID.
#[derive(Default)]
pub struct SessionTable {
    sessions: Mutex<BTreeMap<u16, LiveSession>>,
}

impl SessionTable {
    /// Records a session whose link just came up.
    pub fn insert(&self, call: CallId, session: LiveSession) {
        self.lock().insert(call.0, session);
    }

    /// Forgets a session (its link went down or was never up).
    pub fn remove(&self, call: CallId) {
        self.lock().remove(&call.0);
    }

    /// The report: a summary line, then one line per session in call-ID order.
    pub fn report(&self, now: Instant) -> Vec<String> {
        let sessions = self.lock();
        let mut lines = Vec::with_capacity(sessions.len() + 1);
        lines.push(format!("status: {} session(s) up", sessions.len()));
        for (call, s) in sessions.iter() {
            lines.push(format!(
                "status: call {call} ({}) {} from {}, up {}s; {}",
                s.user,
                s.client,
                s.peer,
                now.saturating_duration_since(s.since).as_secs(),
                s.stats
            ));
        }
        lines
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u16, LiveSession>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    fn session(user: &str, client: [u8; 4], since: Instant) -> LiveSession {
        LiveSession {
            user: user.to_owned(),
            peer: Ipv4Addr::new(10, 0, 0, 7),
            client: Ipv4Addr::from(client),
            since,
            stats: Arc::new(SessionStats::default()),
        }
    }

    #[test]
    fn reports_live_sessions_in_call_order_with_their_traffic() {
        let table = SessionTable::default();
        let start = Instant::now();
        let later = start + Duration::from_secs(90);
        let second = session("backup", [192, 168, 0, 245], start);
        second.stats.tx_bytes.store(1500, Ordering::Relaxed);
        second.stats.tx_packets.store(1, Ordering::Relaxed);
        table.insert(CallId(900), second);
        table.insert(CallId(7), session("root", [192, 168, 0, 234], start));
        let lines = table.report(later);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "status: 2 session(s) up");
        assert!(
            lines[1].starts_with(
                "status: call 7 (root) 192.168.0.234 from 10.0.0.7, up 90s; sent 0 bytes"
            ),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains("call 900 (backup) 192.168.0.245"),
            "{}",
            lines[2]
        );
        assert!(
            lines[2].contains("sent 1500 bytes in 1 packets"),
            "{}",
            lines[2]
        );

        table.remove(CallId(7));
        table.remove(CallId(7));
        assert_eq!(table.report(later)[0], "status: 1 session(s) up");
    }
}
