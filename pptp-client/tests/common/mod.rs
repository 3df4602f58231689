//! A minimal PPTP server for the client's tests, built only from the server roles of the core
//! crates (`pptp_proto::connection::ControlConnection::server`, `ppp_core::Link` with
//! `LinkConfig::server`, `mschap` MPPE), sans-IO, and a wire that moves bytes between it and a
//! `ClientSession` in memory.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Instant;

use mschap::{MppeConfig, MppeDecryptor, MppeEncryptor};
use ppp_core::{Event as LinkEvent, Link, LinkConfig, PppFrame, Protocol, describe_frame};
use pptp_client::{ClientSession, SessionEvent};
use pptp_proto::CallId;
use pptp_proto::connection::{ControlConnection, ControlEvent, ServerConfig};
use pptp_proto::control::{
    CallDisconnectResult, ControlMessage, MessageType, StopControlReason, frame_len,
};
use pptp_proto::gre::{GreHeader, GreReceiver, GreSender};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

/// The server's PPP address.
pub const SERVER_PPP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The address the server hands the client.
pub const CLIENT_PPP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The server's Call ID.
pub const SERVER_CALL_ID: CallId = CallId(0x4242);
/// The client's Call ID (as a GRE demultiplexer would reserve it).
pub const CLIENT_CALL_ID: CallId = CallId(27020);

/// Something the client sent, in order, as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// A control message.
    Control(MessageType),
    /// A PPP frame, as pppd describes it.
    Ppp(String),
    /// An IPv4 datagram (decrypted).
    Ip(Vec<u8>),
    /// An acknowledgement-only GRE packet.
    AckOnly(u32),
}

/// A PPTP server: control connection, one call, its PPP link and MPPE data path.
pub struct TestServer {
    /// Our Call ID.
    pub call_id: CallId,
    pub control: ControlConnection,
    pub link: Link<ChaCha8Rng>,
    user: &'static str,
    password: &'static str,
    peer_call_id: Option<CallId>,
    sender: GreSender,
    receiver: GreReceiver,
    encryptor: Option<MppeEncryptor>,
    decryptor: Option<MppeDecryptor>,
    stream: Vec<u8>,
    pub control_out: VecDeque<Vec<u8>>,
    pub gre_out: VecDeque<Vec<u8>>,
    /// Everything the client sent, in order.
    pub log: Vec<Sent>,
    /// Every link event of the server.
    pub link_events: Vec<LinkEvent>,
    /// Every control event of the server.
    pub control_events: Vec<ControlEvent>,
    /// The server answers LCP, CHAP and so on (false: it stays silent on GRE).
    pub answer_ppp: bool,
    /// Once the call is cleared, the server stops the control connection itself (as
    /// pptpd-rs does) instead of waiting for the client's Stop-Control-Connection-Request.
    pub stop_after_call: bool,
}

impl TestServer {
    /// A server that knows one user.
    pub fn new(now: Instant, user: &'static str, password: &'static str) -> Self {
        let mut config = LinkConfig::server("pptpd");
        config.echo_interval = None;
        TestServer::with_link_config(now, user, password, config)
    }

    /// A server with its own link configuration.
    pub fn with_link_config(
        now: Instant,
        user: &'static str,
        password: &'static str,
        config: LinkConfig,
    ) -> Self {
        TestServer {
            call_id: SERVER_CALL_ID,
            control: ControlConnection::server(ServerConfig::default(), now),
            link: Link::new(config, ChaCha8Rng::seed_from_u64(99)),
            user,
            password,
            peer_call_id: None,
            sender: GreSender::new(),
            receiver: GreReceiver::new(),
            encryptor: None,
            decryptor: None,
            stream: Vec::new(),
            control_out: VecDeque::new(),
            gre_out: VecDeque::new(),
            log: Vec::new(),
            link_events: Vec::new(),
            control_events: Vec::new(),
            answer_ppp: true,
            stop_after_call: false,
        }
    }

    /// Control-connection bytes from the client.
    pub fn handle_control_bytes(&mut self, now: Instant, bytes: &[u8]) {
        self.stream.extend_from_slice(bytes);
        while let Ok(Some(len)) = frame_len(&self.stream) {
            if self.stream.len() < len {
                break;
            }
            let message: Vec<u8> = self.stream.drain(..len).collect();
            let decoded = ControlMessage::decode(&message).expect("client sends valid messages");
            self.log.push(Sent::Control(decoded.message_type()));
            self.control.handle_message(now, decoded);
        }
        self.pump(now);
    }

    /// A GRE packet from the client (no IPv4 header).
    pub fn handle_gre(&mut self, now: Instant, gre: &[u8]) {
        let (header, payload) = GreHeader::parse_packet(gre).expect("client sends valid GRE");
        assert_eq!(header.call_id, self.call_id, "keyed with our Call ID");
        if let Some(seq) = header.seq {
            self.receiver.receive(seq);
        }
        if let Some(ack) = header.ack {
            self.sender.acknowledged(ack);
        }
        if payload.is_empty() {
            self.log
                .push(Sent::AckOnly(header.ack.expect("ack-only has an ack")));
            return;
        }
        let (protocol, info) = PppFrame::decode(payload).expect("a PPP frame");
        if protocol == Protocol::COMPRESSED {
            let decryptor = self.decryptor.as_mut().expect("MPPE data after the keys");
            let mut packet = info.to_vec();
            let plain = decryptor.decrypt(&mut packet).expect("decrypts");
            assert_eq!(
                &plain[..2],
                [0x00, 0x21],
                "IPv4 inside, protocol uncompressed"
            );
            self.log.push(Sent::Ip(plain[2..].to_vec()));
            return;
        }
        if protocol == Protocol::IPV4 {
            assert!(self.decryptor.is_none(), "no cleartext once MPPE is on");
            self.log.push(Sent::Ip(info.to_vec()));
            return;
        }
        self.log.push(Sent::Ppp(describe_frame(payload)));
        if self.answer_ppp {
            let secrets = |user: &[u8]| {
                (user == self.user.as_bytes()).then(|| mschap::nt_password_hash(self.password))
            };
            self.link.handle_frame(now, payload, &secrets);
        }
        self.pump(now);
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.control.handle_timeout(now);
        self.link.handle_timeout(now);
        self.pump(now);
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.control.poll_timeout(), self.link.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends an IPv4 datagram to the client, through MPPE once it is on.
    pub fn send_ip(&mut self, packet: &[u8]) {
        let Some(encryptor) = self.encryptor.as_mut() else {
            let frame = [&[0xff, 0x03, 0x00, 0x21][..], packet].concat();
            return self.send_frame(&frame);
        };
        let mut inner = vec![0x00, 0x21];
        inner.extend_from_slice(packet);
        let header = encryptor.encrypt(&mut inner);
        let mut frame = vec![0xff, 0x03, 0x00, 0xfd];
        frame.extend_from_slice(&header);
        frame.extend_from_slice(&inner);
        self.send_frame(&frame);
    }

    /// Sends an LCP Echo-Request with `identifier`.
    pub fn send_lcp_echo(&mut self, identifier: u8) {
        let magic = [0u8; 4];
        let mut frame = vec![0xff, 0x03, 0xc0, 0x21, 0x09, identifier, 0x00, 0x08];
        frame.extend_from_slice(&magic);
        self.send_frame(&frame);
    }

    /// Shuts down as a gateway does: LCP Terminate-Request, Call-Disconnect-Notify and
    /// Stop-Control-Connection-Request, all at once.
    pub fn shut_down(&mut self, now: Instant) {
        self.link.close(now, ppp_core::Reason::AdminClose);
        self.pump(now);
        self.control
            .clear_call(now, self.call_id, CallDisconnectResult::AdminShutdown)
            .unwrap();
        self.control.stop(now, StopControlReason::LocalShutdown);
        self.pump(now);
    }

    fn send_frame(&mut self, frame: &[u8]) {
        let peer = self.peer_call_id.expect("call up");
        let header = self
            .sender
            .data_header(peer, frame.len() as u16, &mut self.receiver);
        let mut packet = vec![0; header.len()];
        header.emit(&mut packet).unwrap();
        packet.extend_from_slice(frame);
        self.gre_out.push_back(packet);
    }

    /// Reacts to events and queues what is to be sent.
    pub fn pump(&mut self, now: Instant) {
        for _ in 0..16 {
            let mut busy = false;
            while let Some(event) = self.control.poll_event() {
                busy = true;
                if matches!(
                    event,
                    ControlEvent::CallCleared { .. } | ControlEvent::Closed(_)
                ) {
                    // The call is gone: a daemon tells the link its lower layer is down.
                    self.link.lower_down(ppp_core::Reason::LowerLayerDown);
                    if self.stop_after_call && matches!(event, ControlEvent::CallCleared { .. }) {
                        self.control.stop(now, StopControlReason::None);
                    }
                }
                if let ControlEvent::CallRequested { peer_call_id, .. } = &event {
                    self.peer_call_id = Some(*peer_call_id);
                    self.control
                        .answer_call(now, *peer_call_id, self.call_id)
                        .unwrap();
                    self.link.open(now);
                }
                self.control_events.push(event);
            }
            while let Some(event) = self.link.poll_event() {
                busy = true;
                match &event {
                    LinkEvent::Authenticated { .. } => {
                        self.link.set_addresses(now, SERVER_PPP, CLIENT_PPP);
                    }
                    LinkEvent::MppeKeys {
                        send,
                        recv,
                        strength,
                        stateless,
                    } => {
                        let config = MppeConfig {
                            strength: *strength,
                            stateless: *stateless,
                        };
                        self.encryptor = Some(MppeEncryptor::new(send, config));
                        self.decryptor = Some(MppeDecryptor::new(recv, config));
                    }
                    _ => {}
                }
                self.link_events.push(event);
            }
            while let Some(message) = self.control.poll_transmit() {
                busy = true;
                self.control_out.push_back(message.to_bytes());
            }
            while let Some(frame) = self.link.poll_transmit() {
                busy = true;
                if self.peer_call_id.is_some() {
                    self.send_frame(&frame);
                }
            }
            if !busy {
                break;
            }
        }
    }

    /// What the client sent, without acknowledgement-only packets.
    pub fn sent(&self) -> Vec<Sent> {
        self.log
            .iter()
            .filter(|sent| !matches!(sent, Sent::AckOnly(_)))
            .cloned()
            .collect()
    }
}

/// A client session and a server joined by an in-memory wire, with a simulated clock.
pub struct Wire<R: rand_chacha::rand_core::RngCore> {
    pub client: ClientSession<R>,
    pub server: TestServer,
    pub now: Instant,
    /// IPv4 datagrams delivered to the client.
    pub delivered: Vec<Vec<u8>>,
    /// Events of the client session.
    pub events: Vec<SessionEvent>,
    /// Drop everything the server sends on GRE (a lossy or silent path).
    pub drop_server_gre: bool,
    /// Deliver the server's GRE packets before its control messages in each round.
    pub gre_first: bool,
}

impl<R: rand_chacha::rand_core::RngCore> Wire<R> {
    /// Joins `client` and `server`.
    pub fn new(client: ClientSession<R>, server: TestServer, now: Instant) -> Self {
        Wire {
            client,
            server,
            now,
            delivered: Vec::new(),
            events: Vec::new(),
            drop_server_gre: false,
            gre_first: false,
        }
    }

    /// Moves bytes both ways until neither side has anything to send.
    pub fn exchange(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(bytes) = self.client.poll_control_transmit() {
                moved = true;
                self.server.handle_control_bytes(self.now, &bytes);
            }
            while let Some(packet) = self.client.poll_gre_transmit() {
                moved = true;
                self.server.handle_gre(self.now, &packet);
            }
            if self.gre_first {
                moved |= self.deliver_server_gre();
            }
            while let Some(bytes) = self.server.control_out.pop_front() {
                moved = true;
                // Cut each message in two to exercise the stream framing.
                let (a, b) = bytes.split_at(bytes.len() / 2);
                self.client.handle_control_bytes(self.now, a);
                self.client.handle_control_bytes(self.now, b);
            }
            moved |= self.deliver_server_gre();
            while let Some(event) = self.client.poll_event() {
                self.events.push(event);
            }
            if !moved {
                return;
            }
        }
        panic!("the wire never went quiet");
    }

    fn deliver_server_gre(&mut self) -> bool {
        let mut moved = false;
        while let Some(mut packet) = self.server.gre_out.pop_front() {
            moved = true;
            if self.drop_server_gre {
                continue;
            }
            if let Some(range) = self.client.handle_gre(self.now, &mut packet) {
                self.delivered.push(packet[range].to_vec());
            }
        }
        moved
    }

    /// Advances the clock to the next deadline of either side (at most `limit` from now),
    /// fires it and exchanges. Returns false if nothing was due within the limit.
    pub fn tick(&mut self, limit: std::time::Duration) -> bool {
        let horizon = self.now + limit;
        let next = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(at) if at <= horizon => {
                self.now = self.now.max(at);
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
                self.exchange();
                true
            }
            _ => {
                self.now = horizon;
                false
            }
        }
    }

    /// Ticks until the client reports `Closed` (or `limit` of simulated time passes).
    pub fn run_until_closed(&mut self, limit: std::time::Duration) -> Option<pptp_client::Closure> {
        let end = self.now + limit;
        for _ in 0..100_000 {
            if let Some(closure) = self.closure() {
                return Some(closure);
            }
            if self.now >= end {
                return None;
            }
            let left = end - self.now;
            self.tick(left);
        }
        panic!("a deadline that never clears");
    }

    /// The closure the client reported, if any.
    pub fn closure(&self) -> Option<pptp_client::Closure> {
        self.events.iter().find_map(|event| match event {
            SessionEvent::Closed(closure) => Some(closure.clone()),
            _ => None,
        })
    }

    /// The link information the client reported, if it came up.
    pub fn up(&self) -> Option<pptp_client::LinkInfo> {
        self.events.iter().find_map(|event| match event {
            SessionEvent::Up(info) => Some(*info),
            _ => None,
        })
    }
}

/// A minimal IPv4 ICMP echo request from `src` to `dst` with a valid header checksum.
pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, sequence: u16) -> Vec<u8> {
    let mut packet = vec![
        0x45, 0, 0, 28, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, // header up to the checksum
    ];
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let checksum = internet_checksum(&packet);
    packet[10..12].copy_from_slice(&checksum.to_be_bytes());
    let mut icmp = vec![8, 0, 0, 0, 0x00, 0x01];
    icmp.extend_from_slice(&sequence.to_be_bytes());
    let checksum = internet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&checksum.to_be_bytes());
    packet.extend_from_slice(&icmp);
    packet
}

/// The Internet checksum (RFC 1071) of `bytes`.
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in bytes.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
