//! One control connection (RFC 2637 §3.1): a task that owns the TCP stream, the
//! pptp-proto control-connection machine and the PPP link of each call on it.
//!
//! The task is the IO shell around sans-IO machines: it feeds them bytes from
//! TCP, control frames from the data plane and timeouts, and carries out what
//! they ask — control messages onto TCP, PPP frames to the data plane, and the
//! gateway's side effects of link events (an address from the pool, MPPE keys
//! to the data plane, the client's route). When a call ends for any reason its
//! address, route, call ID and data-plane state are given back exactly once.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ppp_core::{Event, Reason as LinkReason, describe_frame};
use pptp_proto::CallId;
use pptp_proto::connection::{ControlConnection, ControlEvent, ServerConfig, Timeouts};
use pptp_proto::control::{
    CallDisconnectResult, ControlMessage, OutgoingCallResult, StopControlReason, frame_len,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::call::Call;
use super::session_table::LiveSession;
use super::shared::Shared;
use crate::datapath::session::{DataSession, SessionStats};
use crate::datapath::{Command, DataEvent};
use crate::secrets::{Found, SecretsLookup};
use crate::settings::Settings;

/// After SIGTERM, how long calls get to finish LCP termination before CDN and StopCCRQ.
const SHUTDOWN_LINK_GRACE: Duration = Duration::from_millis(1500);
/// After that, how long we wait for the Stop-Control-Connection-Reply.
const SHUTDOWN_STOP_GRACE: Duration = Duration::from_millis(1500);
/// How often idle sessions are looked for.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// How often the next hop of each call's data (`gre-direct`) is looked up again: a
/// changed route or neighbour address is followed within this time.
const LINK_ROUTE_CHECK: Duration = Duration::from_secs(20);
/// Calls one control connection may carry at once.
const MAX_CALLS_PER_CONNECTION: u16 = 16;
/// Largest control message we buffer (pptp-proto refuses longer ones anyway).
const MAX_PENDING_INPUT: usize = 64 * 1024;

/// Runs one control connection to its end.
pub async fn run(stream: TcpStream, peer: SocketAddrV4, shared: Arc<Shared>) {
    let settings = shared.settings();
    // The address the client talks to: the source of everything we send it.
    let local = match stream.local_addr() {
        Ok(std::net::SocketAddr::V4(addr)) => *addr.ip(),
        _ => std::net::Ipv4Addr::UNSPECIFIED,
    };
    let (events_tx, events_rx) = mpsc::channel(1024);
    let mut task = Connection {
        conn: ControlConnection::server(server_config(&settings), Instant::now()),
        peer,
        local,
        shared,
        settings,
        calls: Vec::new(),
        events_tx,
        shutdown_at: None,
        stopping: false,
    };
    task.run(stream, events_rx).await;
}

fn server_config(settings: &Settings) -> ServerConfig {
    ServerConfig {
        host_name: b"pptpd-rs".to_vec(),
        vendor: b"pptpd-rs".to_vec(),
        // pptp-linux places a second login to the same server as a second call on
        // the same control connection; each call gets its own link.
        maximum_channels: MAX_CALLS_PER_CONNECTION,
        timeouts: Timeouts {
            establish: settings.start_timeout,
            ..Timeouts::default()
        },
        ..ServerConfig::default()
    }
}

struct Connection {
    conn: ControlConnection,
    peer: SocketAddrV4,
    local: std::net::Ipv4Addr,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    calls: Vec<Call>,
    events_tx: mpsc::Sender<(CallId, DataEvent)>,
    /// Set at shutdown: when calls are forced down.
    shutdown_at: Option<Instant>,
    /// Our StopCCRQ is out.
    stopping: bool,
}

impl Connection {
    async fn run(&mut self, stream: TcpStream, mut events: mpsc::Receiver<(CallId, DataEvent)>) {
        let (mut reader, mut writer) = stream.into_split();
        let mut input: Vec<u8> = Vec::with_capacity(2048);
        let mut output: Vec<u8> = Vec::with_capacity(2048);
        let mut next_idle_check = Instant::now() + IDLE_CHECK;
        let mut next_link_check = Instant::now() + LINK_ROUTE_CHECK;
        loop {
            let now = Instant::now();
            self.drive(now, &mut output).await;
            if !output.is_empty() {
                if let Err(e) = writer.write_all(&output).await {
                    debug!(peer = %self.peer, "control connection write failed: {e}");
                    self.conn.handle_transport_closed(Instant::now());
                }
                output.clear();
                // LCP starts only once the Outgoing-Call-Reply is on its way.
                if self.open_new_links(Instant::now()) {
                    continue;
                }
            }
            if self.conn.state() == pptp_proto::connection::ConnectionState::Closed
                && self.calls.is_empty()
            {
                break;
            }
            let deadline = self
                .next_deadline()
                .map_or(next_idle_check, |d| d.min(next_idle_check));
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
            tokio::select! {
                read = reader.read_buf(&mut input) => {
                    let now = Instant::now();
                    match read {
                        Ok(0) | Err(_) => self.conn.handle_transport_closed(now),
                        Ok(_) => self.handle_input(now, &mut input),
                    }
                }
                Some((call_id, event)) = events.recv() => {
                    self.handle_data_event(Instant::now(), call_id, event).await;
                    // Take whatever else is waiting before driving the machines again.
                    while let Ok((call_id, event)) = events.try_recv() {
                        self.handle_data_event(Instant::now(), call_id, event).await;
                    }
                }
                () = sleep => {
                    let now = Instant::now();
                    self.conn.handle_timeout(now);
                    for call in &mut self.calls {
                        call.link.handle_timeout(now);
                    }
                    if now >= next_idle_check {
                        self.check_idle(now);
                        next_idle_check = now + IDLE_CHECK;
                    }
                    if now >= next_link_check {
                        for i in 0..self.calls.len() {
                            self.refresh_link_route(i).await;
                        }
                        next_link_check = now + LINK_ROUTE_CHECK;
                    }
                    self.check_shutdown(now);
                }
                () = self.shared.shutdown.cancelled(), if self.shutdown_at.is_none() => {
                    self.begin_shutdown(Instant::now());
                }
            }
        }
        // Whatever is left (the peer vanished): give everything back.
        for call in &mut self.calls {
            release(&self.shared, self.peer, call).await;
        }
        debug!(peer = %self.peer, "control connection closed");
    }

    /// Parses every complete control message in `input` and feeds it to the machine.
    fn handle_input(&mut self, now: Instant, input: &mut Vec<u8>) {
        loop {
            let len = match frame_len(input) {
                Ok(Some(len)) if input.len() >= len => len,
                Ok(_) => break,
                Err(e) => {
                    warn!(peer = %self.peer, "dropping control connection: {e}");
                    self.conn.handle_stream_error(now, e);
                    input.clear();
                    return;
                }
            };
            match ControlMessage::decode(&input[..len]) {
                Ok(message) => {
                    if self.settings.debug_pptp {
                        debug!(peer = %self.peer, "rcvd {message}");
                    }
                    self.conn.handle_message(now, message);
                }
                Err(e) => {
                    warn!(peer = %self.peer, "dropping control connection: bad message: {e}");
                    self.conn.handle_stream_error(now, e);
                    input.clear();
                    return;
                }
            }
            input.drain(..len);
        }
        if input.len() > MAX_PENDING_INPUT {
            input.clear();
            self.conn.handle_transport_closed(now);
        }
    }

    async fn handle_data_event(&mut self, now: Instant, call_id: CallId, event: DataEvent) {
        let shared = self.shared.clone();
        let Some(call) = self.calls.iter_mut().find(|c| c.id == call_id) else {
            return;
        };
        match event {
            DataEvent::Frame(frame) => {
                if call.settings.debug_ppp {
                    debug!("{}: rcvd {}", call.label(self.peer), describe_frame(&frame));
                }
                let settings = call.settings.clone();
                let found = {
                    let lookup = SecretsLookup::new(
                        &shared.secrets,
                        &settings.chap_secrets,
                        &settings.link.server_name,
                        settings.strip_domain,
                    );
                    call.link.handle_frame(now, &frame, &lookup);
                    lookup.take_found()
                };
                self.after_auth_attempt(now, call_id, found).await;
            }
            DataEvent::ResyncNeeded => call.link.request_mppe_reset(now),
        }
    }

    /// Handles `Authenticated` right away: the link needs its addresses before
    /// the next frame (ppp-core discards NCP frames until then).
    async fn after_auth_attempt(&mut self, now: Instant, call_id: CallId, found: Option<Found>) {
        let shared = self.shared.clone();
        let Some(call) = self.calls.iter_mut().find(|c| c.id == call_id) else {
            return;
        };
        let mut deferred = Vec::new();
        while let Some(event) = call.link.poll_event() {
            match event {
                Event::Authenticated { user } => {
                    let assigned = {
                        let mut pool = shared.pool();
                        let client = match &found {
                            Some((entry, secrets)) => {
                                pool.set_reserved(secrets.static_addresses());
                                pool.allocate_for(&entry.addresses)
                            }
                            None => Err(crate::pool::PoolError::NotPermitted),
                        };
                        client.map(|client| (client, pool.local_for(client)))
                    };
                    call.user = Some(user.clone());
                    match assigned {
                        Ok((client, local)) => {
                            if shared.egress_may_miss(client) {
                                // nft or iptables runs for milliseconds or more: not on the
                                // thread every control connection shares.
                                let shared = shared.clone();
                                let _ = tokio::task::spawn_blocking(move || {
                                    shared.cover_with_egress(client);
                                })
                                .await;
                            }
                            call.client_ip = Some(client);
                            info!("{}: authenticated, address {client}", call.label(self.peer));
                            call.link.set_addresses(now, local, client);
                        }
                        Err(e) => {
                            warn!("{}: no address for {user}: {e}", call.label(self.peer));
                            call.link.close(now, LinkReason::NoAddress);
                        }
                    }
                }
                other => deferred.push(other),
            }
        }
        call.pending.extend(deferred);
    }

    /// Runs every machine until none has anything more to say.
    async fn drive(&mut self, now: Instant, output: &mut Vec<u8>) {
        loop {
            let mut progressed = false;
            while let Some(message) = self.conn.poll_transmit() {
                if self.settings.debug_pptp {
                    debug!(peer = %self.peer, "sent {message}");
                }
                message.encode(output);
                progressed = true;
            }
            while let Some(event) = self.conn.poll_event() {
                self.handle_control_event(now, event).await;
                progressed = true;
            }
            for i in 0..self.calls.len() {
                progressed |= self.drive_call(now, i).await;
            }
            let before = self.calls.len();
            let mut finished = Vec::new();
            self.calls.retain_mut(|c| {
                if c.released && c.link.is_finished() {
                    finished.push(c.id);
                    false
                } else {
                    true
                }
            });
            if self.calls.len() != before {
                progressed = true;
                self.after_calls_ended(now);
            }
            if !progressed {
                return;
            }
        }
    }

    /// Sends the call's frames, handles its link events. Returns whether anything happened.
    async fn drive_call(&mut self, now: Instant, i: usize) -> bool {
        let mut progressed = false;
        let peer = self.peer;
        {
            let call = &mut self.calls[i];
            while let Some(frame) = call.link.poll_transmit() {
                if call.settings.debug_ppp {
                    debug!("{}: sent {}", call.label(peer), describe_frame(&frame));
                }
                self.shared.data.send(
                    call.id,
                    Command::SendFrame {
                        call_id: call.id,
                        frame,
                    },
                );
                progressed = true;
            }
        }
        loop {
            let event = {
                let call = &mut self.calls[i];
                match call.pending.pop_front() {
                    Some(e) => Some(e),
                    None => call.link.poll_event(),
                }
            };
            let Some(event) = event else { break };
            progressed = true;
            self.handle_link_event(now, i, event).await;
        }
        progressed
    }

    async fn handle_link_event(&mut self, now: Instant, i: usize, event: Event) {
        let peer = self.peer;
        match event {
            Event::Authenticated { user } => {
                // Reached only when the event was not handled with its frame (it always is).
                warn!(
                    "{}: authenticated {user} without a lookup; closing",
                    self.calls[i].label(peer)
                );
                self.calls[i].link.close(now, LinkReason::NoAddress);
            }
            Event::AuthFailed { user } => {
                let call = &mut self.calls[i];
                call.user = Some(user.clone());
                warn!(
                    "{}: authentication failed for user {user:?}",
                    call.label(peer)
                );
            }
            Event::AuthSucceeded => {}
            Event::MppeKeys {
                send,
                recv,
                strength,
                stateless,
            } => {
                let call = &self.calls[i];
                debug!(
                    "{}: MPPE {strength:?} {}",
                    call.label(peer),
                    if stateless { "stateless" } else { "stateful" }
                );
                let config = mschap::MppeConfig {
                    strength,
                    stateless,
                };
                self.shared.data.send(
                    call.id,
                    Command::SetKeys {
                        call_id: call.id,
                        send,
                        recv,
                        config,
                    },
                );
            }
            Event::MppeResetRequested => {
                let id = self.calls[i].id;
                self.shared
                    .data
                    .send(id, Command::ResetEncryptor { call_id: id });
            }
            Event::LinkUp {
                local,
                peer: client,
                ..
            } => {
                let call = &mut self.calls[i];
                if !call.link.mppe_active() {
                    warn!("{}: link up WITHOUT encryption (nomppe)", call.label(peer));
                    self.shared
                        .data
                        .send(call.id, Command::SetCleartext { call_id: call.id });
                }
                let id = call.id;
                match self.shared.routes.add_client_route(client, local).await {
                    Ok(()) => {
                        let call = &mut self.calls[i];
                        self.shared.data.add_route(client, id);
                        call.routed = true;
                        call.up_since = Some(now);
                        self.shared.live.insert(
                            id,
                            LiveSession {
                                user: call.user.clone().unwrap_or_default(),
                                peer: *peer.ip(),
                                client,
                                since: now,
                                stats: call.stats.clone(),
                                link_route: None,
                            },
                        );
                        // Before the log line: whoever reads "link up" finds the data path set.
                        self.refresh_link_route(i).await;
                        let call = &self.calls[i];
                        info!("{}: link up, {client} ⇄ {local}", call.label(peer));
                    }
                    Err(e) => {
                        let call = &mut self.calls[i];
                        warn!("{}: cannot route {client}: {e}; closing", call.label(peer));
                        call.link.close(now, LinkReason::AdminClose);
                    }
                }
            }
            Event::Down(reason) => {
                let shared = self.shared.clone();
                let call = &mut self.calls[i];
                let lasted = call.up_since.map(|t| now.saturating_duration_since(t));
                info!(
                    "{}: link down: {reason}{}; {}",
                    call.label(peer),
                    lasted
                        .map(|d| format!(" after {}s", d.as_secs()))
                        .unwrap_or_default(),
                    call.stats
                );
                release(&shared, peer, call).await;
                if call.pptp_established {
                    call.pptp_established = false;
                    let result = match reason {
                        LinkReason::AdminClose => CallDisconnectResult::AdminShutdown,
                        LinkReason::PeerTerminated => CallDisconnectResult::Request,
                        _ => CallDisconnectResult::GeneralError,
                    };
                    let id = call.id;
                    let _ = self.conn.clear_call(now, id, result);
                }
            }
        }
    }

    async fn handle_control_event(&mut self, now: Instant, event: ControlEvent) {
        let peer = self.peer;
        match event {
            ControlEvent::Connected { peer: info } => {
                info!(
                    %peer,
                    "control connection: host {:?}, vendor {:?}",
                    String::from_utf8_lossy(&info.host_name),
                    String::from_utf8_lossy(&info.vendor)
                );
            }
            ControlEvent::CallRequested { peer_call_id, .. } => self.answer_call(now, peer_call_id),
            ControlEvent::CallCleared {
                call_id, reason, ..
            } => {
                if let Some(call) = self.calls.iter_mut().find(|c| c.id == call_id) {
                    debug!("{}: call cleared: {reason:?}", call.label(peer));
                    call.pptp_established = false;
                    call.link.lower_down(LinkReason::LowerLayerDown);
                }
            }
            ControlEvent::ProtocolViolation {
                message_type,
                state,
                violation,
            } => {
                warn!(%peer, "protocol violation: {message_type:?} in {state:?}: {violation:?}");
            }
            ControlEvent::UnknownMessage { message_type } => {
                debug!(%peer, "ignored unknown control message type {message_type}");
            }
            ControlEvent::Closed(reason) => {
                debug!(%peer, "control connection ends: {reason:?}");
                for call in &mut self.calls {
                    call.pptp_established = false;
                    call.link.lower_down(LinkReason::LowerLayerDown);
                }
            }
            _ => {}
        }
    }

    /// Accepts a call (Outgoing-Call-Request) if a session slot, a call ID and a
    /// data-plane slot are to be had; refuses it otherwise.
    fn answer_call(&mut self, now: Instant, peer_call_id: CallId) {
        let settings = self.shared.settings();
        if self.shutdown_at.is_some() || !self.shared.try_begin_session(settings.max_sessions) {
            warn!(peer = %self.peer, "refusing call: {} sessions already", settings.max_sessions);
            let _ = self
                .conn
                .refuse_call(now, peer_call_id, OutgoingCallResult::Busy);
            return;
        }
        let Some(id) = self.shared.call_ids().allocate() else {
            self.shared.end_session();
            let _ = self
                .conn
                .refuse_call(now, peer_call_id, OutgoingCallResult::GeneralError);
            return;
        };
        let stats = Arc::new(SessionStats::default());
        let session = DataSession::new(id, peer_call_id, *self.peer.ip(), stats.clone());
        // The data plane must know the call before the peer can send GRE for it.
        self.shared.data.send(
            id,
            Command::AddSession {
                session,
                events: self.events_tx.clone(),
            },
        );
        if let Err(e) = self.conn.answer_call(now, peer_call_id, id) {
            warn!(peer = %self.peer, "cannot answer call: {e:?}");
            self.shared
                .data
                .send(id, Command::RemoveSession { call_id: id });
            self.shared.call_ids().release(id);
            self.shared.end_session();
            return;
        }
        let call = Call::new(id, peer_call_id, settings, stats);
        info!(
            "{}: call placed (peer call ID {})",
            call.label(self.peer),
            peer_call_id.0
        );
        self.calls.push(call);
    }

    fn open_new_links(&mut self, now: Instant) -> bool {
        let mut any = false;
        for call in self.calls.iter_mut().filter(|c| !c.opened) {
            call.opened = true;
            call.link.open(now);
            any = true;
        }
        any
    }

    /// The last call is gone: a stock client expects the server to end the control connection.
    fn after_calls_ended(&mut self, now: Instant) {
        if self.calls.is_empty() && !self.stopping {
            self.stopping = true;
            let reason = if self.shutdown_at.is_some() {
                StopControlReason::LocalShutdown
            } else {
                StopControlReason::None
            };
            self.conn.stop(now, reason);
        }
    }

    /// Looks up where call `i`'s data goes on the link (`gre-direct`) and tells its
    /// worker when that changed; calls whose link is not up are left alone. A kernel
    /// change that came while the lookup was out and may concern its answer makes it
    /// look once more (see [`super::session_table`]).
    async fn refresh_link_route(&mut self, i: usize) {
        let Some(resolver) = self.shared.link_resolver.clone() else {
            return;
        };
        let call = &self.calls[i];
        if !call.routed || call.released {
            return;
        }
        let call_id = call.id;
        for _ in 0..2 {
            let seen = self.shared.live.link_generation();
            let route = match resolver.resolve(*self.peer.ip(), self.local).await {
                Ok(route) => route,
                Err(e) => {
                    debug!(
                        "{}: next-hop lookup failed: {e}",
                        self.calls[i].label(self.peer)
                    );
                    None
                }
            };
            let data = &self.shared.data;
            let installed = self
                .shared
                .live
                .install_link_route(call_id, route, seen, |route| {
                    data.send(call_id, Command::SetLinkRoute { call_id, route });
                });
            match installed {
                // Overtaken by a change: look again.
                None => continue,
                Some(false) => return,
                Some(true) => {
                    let label = self.calls[i].label(self.peer);
                    match &route {
                        Some(r) => debug!("{label}: data leaves as frames on {r}"),
                        None => {
                            debug!("{label}: data leaves through the IP stack (no usable next hop)")
                        }
                    }
                    return;
                }
            }
        }
    }

    fn check_idle(&mut self, now: Instant) {
        let now_secs = crate::datapath::clock::coarse_secs(now);
        for call in &mut self.calls {
            let Some(idle) = call.settings.idle else {
                continue;
            };
            if call.up_since.is_none() || call.released {
                continue;
            }
            let last = call
                .stats
                .last_activity
                .load(std::sync::atomic::Ordering::Relaxed);
            let since_up = call.up_since.map_or(0, crate::datapath::clock::coarse_secs);
            if now_secs.saturating_sub(last.max(since_up)) >= idle.as_secs() {
                info!(
                    "{}: idle for {}s, closing",
                    call.label(self.peer),
                    idle.as_secs()
                );
                call.link.close(now, LinkReason::AdminClose);
            }
        }
    }

    fn begin_shutdown(&mut self, now: Instant) {
        self.shutdown_at = Some(now);
        for call in &mut self.calls {
            call.link.close(now, LinkReason::AdminClose);
        }
        if self.calls.is_empty() && !self.stopping {
            self.stopping = true;
            self.conn.stop(now, StopControlReason::LocalShutdown);
        }
    }

    fn check_shutdown(&mut self, now: Instant) {
        let Some(at) = self.shutdown_at else { return };
        if now >= at + SHUTDOWN_LINK_GRACE {
            for call in &mut self.calls {
                if !call.link.is_finished() {
                    call.link.lower_down(LinkReason::AdminClose);
                }
            }
            if !self.stopping {
                self.stopping = true;
                self.conn.stop(now, StopControlReason::LocalShutdown);
            }
        }
        if now >= at + SHUTDOWN_LINK_GRACE + SHUTDOWN_STOP_GRACE {
            self.conn.handle_transport_closed(now);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut deadline = self.conn.poll_timeout();
        for call in &self.calls {
            if let Some(t) = call.link.poll_timeout() {
                deadline = Some(deadline.map_or(t, |d| d.min(t)));
            }
        }
        if let Some(at) = self.shutdown_at {
            let next = if self.stopping {
                at + SHUTDOWN_LINK_GRACE + SHUTDOWN_STOP_GRACE
            } else {
                at + SHUTDOWN_LINK_GRACE
            };
            deadline = Some(deadline.map_or(next, |d| d.min(next)));
        }
        deadline
    }
}

/// Gives back what the call holds: route, address, data-plane state, call ID, session slot.
async fn release(shared: &Shared, peer: SocketAddrV4, call: &mut Call) {
    if call.released {
        return;
    }
    call.released = true;
    shared.live.remove(call.id);
    if let Some(client) = call.client_ip.take() {
        if call.routed {
            shared.data.remove_route(client, call.id);
            if let Err(e) = shared.routes.remove_client_route(client).await {
                warn!(
                    "{}: cannot remove the route to {client}: {e}",
                    call.label(peer)
                );
            }
        }
        let _ = shared.pool().release(client);
    }
    shared
        .data
        .send(call.id, Command::RemoveSession { call_id: call.id });
    shared.call_ids().release(call.id);
    shared.end_session();
}
