//! The sessions whose link is up, for the status report an operator asks for with SIGUSR1
//! (one log line per session: user, addresses, how long, traffic, which way its data
//! leaves). Written at link up, at next-hop changes and at release, never on the data path.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pptp_proto::CallId;

use crate::datapath::frame_socket::LinkRoute;
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
    /// Where its downstream data goes as frames (`gre-direct`); `None`: the IP stack.
    pub link_route: Option<LinkRoute>,
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

    /// Records where a session's downstream data now goes (`gre-direct`).
    pub fn set_link_route(&self, call: CallId, route: Option<LinkRoute>) {
        if let Some(session) = self.lock().get_mut(&call.0) {
            session.link_route = route;
        }
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
            let path = match &s.link_route {
                Some(route) => format!("frames on {route}"),
                None => "the IP stack".to_owned(),
            };
            lines.push(format!(
                "status: call {call} ({}) {} from {}, up {}s; {}; data leaves by {path}",
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
            link_route: None,
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
        assert!(
            lines[2].ends_with("; data leaves by the IP stack"),
            "{}",
            lines[2]
        );
        table.set_link_route(
            CallId(900),
            Some(LinkRoute {
                ifindex: 2,
                mtu: 1500,
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 0xab],
                src_ip: Ipv4Addr::new(10, 0, 0, 1),
                dst_ip: Ipv4Addr::new(10, 0, 0, 7),
            }),
        );
        assert!(
            table.report(later)[2]
                .ends_with("; data leaves by frames on interface #2 to 02:00:00:00:00:ab"),
            "{:?}",
            table.report(later)
        );

        table.remove(CallId(7));
        table.remove(CallId(7));
        assert_eq!(table.report(later)[0], "status: 1 session(s) up");
    }
}
