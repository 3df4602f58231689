//! The sessions whose link is up, for the status report an operator asks for with SIGUSR1
//! (one log line per session: user, addresses, how long, traffic, which way its data
//! leaves). Written at link up, at next-hop changes and at release, never on the data path.
//!
//! It is also where each session's [`LinkRoute`] (`gre-direct`) is decided: a control task
//! installs what its lookup found, [`crate::link_watch`] takes away what a kernel change
//! made wrong, both under the table's lock and telling the worker from under it, so the
//! worker gets the routes in the order the table took them. A lookup that was in flight
//! when a change came is checked against the changes since it started ([`CHANGE_LOG`]).

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pptp_proto::CallId;

use crate::datapath::frame_socket::LinkRoute;
use crate::datapath::session::SessionStats;
use crate::link_watch::LinkChange;

/// Link changes remembered for the lookups in flight; a lookup that started more changes
/// ago than this looks again.
pub const CHANGE_LOG: usize = 256;

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
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: BTreeMap<u16, LiveSession>,
    /// The last [`CHANGE_LOG`] link changes, the newest last.
    changes: VecDeque<LinkChange>,
    /// Link changes applied since start.
    generation: u64,
}

impl Inner {
    /// Whether a change since `seen` may have made `route` wrong (`true` also when the
    /// changes since are no longer all remembered).
    fn changed_under(&self, seen: u64, route: &LinkRoute) -> bool {
        let since = self.generation.saturating_sub(seen);
        match usize::try_from(since) {
            Ok(n) if n <= self.changes.len() => self
                .changes
                .iter()
                .rev()
                .take(n)
                .any(|c| c.invalidates(route)),
            _ => true,
        }
    }
}

impl SessionTable {
    /// Records a session whose link just came up.
    pub fn insert(&self, call: CallId, session: LiveSession) {
        self.lock().sessions.insert(call.0, session);
    }

    /// The link changes applied so far: read it before a next-hop lookup and hand it to
    /// [`SessionTable::install_link_route`] with the answer.
    pub fn link_generation(&self) -> u64 {
        self.lock().generation
    }

    /// Records `route` as where `call`'s downstream data goes (`gre-direct`), found by a
    /// lookup that started at generation `seen`, and calls `tell_worker` (under the lock) if
    /// that changed anything. Returns `Some(changed)`, or `None` when a link change since
    /// `seen` may have made `route` wrong: look again.
    pub fn install_link_route(
        &self,
        call: CallId,
        route: Option<LinkRoute>,
        seen: u64,
        tell_worker: impl FnOnce(Option<LinkRoute>),
    ) -> Option<bool> {
        let mut inner = self.lock();
        if route.is_some_and(|r| inner.changed_under(seen, &r)) {
            return None;
        }
        let Some(session) = inner.sessions.get_mut(&call.0) else {
            return Some(false);
        };
        if session.link_route == route {
            return Some(false);
        }
        session.link_route = route;
        tell_worker(route);
        Some(true)
    }

    /// Applies a kernel change: every session whose frames it may have made wrong goes back
    /// to the IP stack, and `tell_worker` is called for each (under the lock). Returns them.
    pub fn apply_link_change(
        &self,
        change: LinkChange,
        mut tell_worker: impl FnMut(CallId),
    ) -> Vec<CallId> {
        let mut inner = self.lock();
        inner.generation += 1;
        if inner.changes.len() == CHANGE_LOG {
            inner.changes.pop_front();
        }
        inner.changes.push_back(change);
        let mut moved = Vec::new();
        for (&call, session) in inner.sessions.iter_mut() {
            if session.link_route.is_some_and(|r| change.invalidates(&r)) {
                session.link_route = None;
                tell_worker(CallId(call));
                moved.push(CallId(call));
            }
        }
        moved
    }

    /// Forgets a session (its link went down or was never up).
    pub fn remove(&self, call: CallId) {
        self.lock().sessions.remove(&call.0);
    }

    /// The report: a summary line, then one line per session in call-ID order.
    pub fn report(&self, now: Instant) -> Vec<String> {
        let inner = self.lock();
        let sessions = &inner.sessions;
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
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
        let seen = table.link_generation();
        assert_eq!(
            table.install_link_route(CallId(900), Some(frames()), seen, |_| {}),
            Some(true)
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

    fn frames() -> LinkRoute {
        LinkRoute {
            ifindex: 2,
            mtu: 1500,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 0xab],
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 7),
            next_hop: Ipv4Addr::new(10, 0, 0, 7),
        }
    }

    /// The next hop 10.0.0.7 now answers from another address.
    fn moved() -> LinkChange {
        LinkChange::Neighbour {
            ifindex: 2,
            ip: Ipv4Addr::new(10, 0, 0, 7),
            mac: Some([2, 0, 0, 0, 0, 0xcd]),
        }
    }

    /// Somebody else's neighbour.
    fn unrelated() -> LinkChange {
        LinkChange::Neighbour {
            ifindex: 2,
            ip: Ipv4Addr::new(10, 0, 0, 99),
            mac: None,
        }
    }

    #[test]
    fn a_change_sends_the_sessions_it_concerns_back_to_the_ip_stack() {
        let table = SessionTable::default();
        let now = Instant::now();
        table.insert(CallId(1), session("a", [192, 168, 0, 2], now));
        table.insert(CallId(2), session("b", [192, 168, 0, 3], now));
        let mut told = Vec::new();
        let seen = table.link_generation();
        for call in [CallId(1), CallId(2)] {
            let installed =
                table.install_link_route(call, Some(frames()), seen, |r| told.push((call, r)));
            assert_eq!(installed, Some(true));
        }
        // The same answer again changes nothing and tells nobody.
        assert_eq!(
            table.install_link_route(CallId(1), Some(frames()), seen, |_| panic!("told")),
            Some(false)
        );
        assert_eq!(told.len(), 2);

        assert_eq!(
            table.apply_link_change(unrelated(), |_| panic!("told")),
            vec![]
        );
        let mut back = Vec::new();
        assert_eq!(
            table.apply_link_change(moved(), |call| back.push(call)),
            vec![CallId(1), CallId(2)]
        );
        assert_eq!(back, vec![CallId(1), CallId(2)]);
        assert!(table.report(now)[1].ends_with("data leaves by the IP stack"));
        // Already on the IP stack: a second change moves nothing.
        assert_eq!(table.apply_link_change(moved(), |_| panic!("told")), vec![]);
    }

    #[test]
    fn a_lookup_overtaken_by_a_change_that_concerns_it_must_look_again() {
        let table = SessionTable::default();
        table.insert(CallId(1), session("a", [192, 168, 0, 2], Instant::now()));
        let seen = table.link_generation();
        // A change elsewhere while the lookup was out: its answer stands.
        table.apply_link_change(unrelated(), |_| {});
        assert_eq!(
            table.install_link_route(CallId(1), Some(frames()), seen, |_| {}),
            Some(true)
        );
        // The next hop moved while the next lookup was out: its answer is refused...
        let seen = table.link_generation();
        assert_eq!(table.apply_link_change(moved(), |_| {}), vec![CallId(1)]);
        assert_eq!(
            table.install_link_route(CallId(1), Some(frames()), seen, |_| panic!("told")),
            None
        );
        // ...but "the IP stack" is always a safe answer (here: the one the change gave).
        assert_eq!(
            table.install_link_route(CallId(1), None, seen, |_| panic!("told")),
            Some(false)
        );
        // A route the change does not concern (another next hop) stands.
        let elsewhere = LinkRoute {
            next_hop: Ipv4Addr::new(10, 0, 0, 1),
            dst_mac: [2, 0, 0, 0, 0, 0x01],
            ..frames()
        };
        let mut told = None;
        assert_eq!(
            table.install_link_route(CallId(1), Some(elsewhere), seen, |r| told = Some(r)),
            Some(true)
        );
        assert_eq!(told, Some(Some(elsewhere)));
        // A lookup older than the log of changes looks again whatever the changes were.
        let seen = table.link_generation();
        for _ in 0..=CHANGE_LOG {
            table.apply_link_change(unrelated(), |_| {});
        }
        assert_eq!(
            table.install_link_route(CallId(1), Some(frames()), seen, |_| {}),
            None
        );
        // A session that is gone takes nothing.
        assert_eq!(
            table.install_link_route(CallId(5), None, table.link_generation(), |_| {}),
            Some(false)
        );
    }
}
