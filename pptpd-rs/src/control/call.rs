//! One call of a control connection: its PPP link (ppp-core, server role) and
//! what the gateway gave it (call ID, session slot, address, route).

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use ppp_core::{Event, Link};
use pptp_proto::CallId;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::datapath::session::SessionStats;
use crate::settings::Settings;

/// A call in progress.
pub struct Call {
    /// Our call ID.
    pub id: CallId,
    /// The peer's call ID.
    pub peer_call_id: CallId,
    /// The PPP link.
    pub link: Link<StdRng>,
    /// Counters the data plane keeps.
    pub stats: Arc<SessionStats>,
    /// The settings the call started with.
    pub settings: Arc<Settings>,
    /// Whether LCP was started (after the Outgoing-Call-Reply went out).
    pub opened: bool,
    /// The authenticated user.
    pub user: Option<String>,
    /// The address the pool gave the client.
    pub client_ip: Option<Ipv4Addr>,
    /// Whether the client's /32 route and data-plane route are in place.
    pub routed: bool,
    /// When the link came up.
    pub up_since: Option<Instant>,
    /// Whether the call's resources were given back.
    pub released: bool,
    /// Whether the PPTP call is still established on the control connection.
    pub pptp_established: bool,
    /// Link events taken out early (with an authentication) and not handled yet.
    pub pending: VecDeque<Event>,
}

impl Call {
    /// A new call with a fresh link built from `settings`.
    pub fn new(
        id: CallId,
        peer_call_id: CallId,
        settings: Arc<Settings>,
        stats: Arc<SessionStats>,
    ) -> Self {
        let link = Link::new(settings.link.clone(), StdRng::from_os_rng());
        Self {
            id,
            peer_call_id,
            link,
            stats,
            settings,
            opened: false,
            user: None,
            client_ip: None,
            routed: false,
            up_since: None,
            released: false,
            pptp_established: true,
            pending: VecDeque::new(),
        }
    }

    /// A label for log lines: `call 4711 from 10.0.0.2 (alice)`.
    pub fn label(&self, peer: SocketAddrV4) -> String {
        match &self.user {
            Some(user) => format!("call {} from {} ({user})", self.id.0, peer.ip()),
            None => format!("call {} from {}", self.id.0, peer.ip()),
        }
    }
}
