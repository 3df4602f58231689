//! Harness for the daemon's per-packet data path (RFC 2637 §4, RFC 3078):
//! [`DataSession::decapsulate`] on GRE packets from the fuzzer, and the send side
//! ([`DataSession::encapsulate`], `encapsulate_frame`, `ack_only`) checked against a mirror
//! session that plays the client and must get back exactly what was sent.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mschap::MppeConfig;
use pptp_proto::{CallId, GreHeader, Ipv4Envelope};
use pptpd::datapath::session::{DataSession, HEADROOM, SessionStats, Upstream};

use crate::fixture;
use crate::input::Input;
use crate::mppe::mppe_config;

/// Operation codes of the `datapath_session` script (the operation byte modulo 8).
pub mod op {
    /// A GRE packet from the client (a chunk): `GreHeader::parse`, then `decapsulate`.
    pub const RECEIVE: u8 = 0;
    /// An IP packet from the TUN device (a chunk): `encapsulate`, then the mirror receives it.
    pub const SEND_IP: u8 = 1;
    /// A PPP control frame (a chunk): `encapsulate_frame`, then the mirror receives it.
    pub const SEND_FRAME: u8 = 2;
    /// `ack_only`, then the mirror receives it.
    pub const ACK: u8 = 3;
    /// A CCP Reset-Request arrived: `reset_encryptor`.
    pub const RESET: u8 = 4;
    /// The worker clock advances (argument: seconds).
    pub const TIME: u8 = 5;
    /// A whole raw-socket datagram (a chunk): `Ipv4Envelope::parse`, `GreHeader::parse`, then
    /// `decapsulate`.
    pub const DATAGRAM: u8 = 6;
}

/// How the session's crypto is set up, by the first octet modulo 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// MPPE with these parameters (selectors 0-3: 128-bit stateless, 128-bit stateful, 40-bit
    /// stateless, 56-bit stateful).
    Mppe(MppeConfig),
    /// MPPE off by configuration.
    Clear,
    /// MPPE required, keys not there yet.
    Pending,
}

impl Mode {
    fn from_selector(selector: u8) -> Mode {
        match selector % 6 {
            0 => Mode::Mppe(mppe_config(0)),
            1 => Mode::Mppe(mppe_config(4)),
            2 => Mode::Mppe(mppe_config(2)),
            3 => Mode::Mppe(mppe_config(5)),
            4 => Mode::Clear,
            _ => Mode::Pending,
        }
    }
}

/// Operations per input: a received packet can cost up to 2049 MPPE key changes (a coherency
/// count jump of half the space), so this keeps one input well under libFuzzer's timeout.
const MAX_OPERATIONS: usize = 128;

/// The PPP protocol of a frame as RFC 1661 §6.5-6.6 reads it (optional `FF 03`, one- or
/// two-octet protocol), independently of the code under test.
fn ppp_protocol(frame: &[u8]) -> Option<u16> {
    let rest = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
    match rest {
        [low, ..] if low & 1 == 1 => Some(u16::from(*low)),
        [high, low, ..] => Some(u16::from_be_bytes([*high, *low])),
        _ => None,
    }
}

/// Whether the data path hands a frame of this protocol to the control task.
fn is_control(protocol: u16) -> bool {
    protocol & 0x8000 != 0 || protocol == 0xc021 || protocol == 0xc223
}

/// The session under test (the gateway's end) and its mirror (the client's end).
struct Sessions {
    mode: Mode,
    session: DataSession,
    stats: Arc<SessionStats>,
    mirror: DataSession,
    /// The mirror can no longer be expected to decrypt (the session dropped an encrypted
    /// packet after using its coherency count).
    mirror_out_of_step: bool,
    delivered_to_tun: u64,
    now_secs: u64,
}

impl Sessions {
    fn new(mode: Mode) -> Self {
        let stats = Arc::new(SessionStats::default());
        let server_call = CallId(fixture::SERVER_CALL_ID);
        let client_call = CallId(fixture::CLIENT_CALL_ID);
        let mut session =
            DataSession::new(server_call, client_call, fixture::CLIENT_IP, stats.clone());
        let mut mirror = DataSession::new(
            client_call,
            server_call,
            Ipv4Addr::new(10, 100, 100, 1),
            Arc::default(),
        );
        match mode {
            Mode::Mppe(config) => {
                session.set_crypto(&fixture::SERVER_SEND_KEY, &fixture::SERVER_RECV_KEY, config);
                mirror.set_crypto(&fixture::SERVER_RECV_KEY, &fixture::SERVER_SEND_KEY, config);
            }
            Mode::Clear => {
                session.set_cleartext();
                mirror.set_cleartext();
            }
            Mode::Pending => {}
        }
        Sessions {
            mode,
            session,
            stats,
            mirror,
            mirror_out_of_step: false,
            delivered_to_tun: 0,
            now_secs: 0,
        }
    }

    /// `decapsulate` on a GRE packet; checks the verdict against the packet.
    fn receive(&mut self, packet: &[u8]) {
        let Ok((header, header_len)) = GreHeader::parse(packet) else {
            return;
        };
        let end = header_len + usize::from(header.payload_len);
        let protocol = ppp_protocol(&packet[header_len..end]);
        let mut buffer = packet.to_vec();
        let verdict = self
            .session
            .decapsulate(&mut buffer, &header, header_len, self.now_secs);
        match verdict {
            Upstream::ToTun { start, len } => {
                assert!(
                    start >= header_len && start + len <= end,
                    "ToTun {start}+{len} outside the payload {header_len}..{end}"
                );
                match self.mode {
                    Mode::Pending => panic!("data delivered before the MPPE keys"),
                    Mode::Mppe(_) => assert_eq!(
                        protocol,
                        Some(0x00fd),
                        "cleartext delivered while MPPE is on"
                    ),
                    Mode::Clear => assert_eq!(
                        protocol,
                        Some(0x0021),
                        "non-IPv4 delivered to the TUN device"
                    ),
                }
                self.delivered_to_tun += 1;
            }
            Upstream::ToControl { start, len } => {
                assert_eq!((start, len), (header_len, end - header_len));
                assert!(
                    protocol.is_some_and(is_control),
                    "protocol {protocol:x?} sent to the control task"
                );
            }
            Upstream::ResyncNeeded => {
                assert!(matches!(self.mode, Mode::Mppe(config) if !config.stateless));
            }
            Upstream::Nothing | Upstream::Drop(_) => {}
        }
        assert_eq!(
            self.stats.rx_packets.load(Ordering::Relaxed),
            self.delivered_to_tun,
            "rx_packets counts the packets delivered to the TUN device"
        );
    }

    /// The mirror receives a datagram the session built; returns its verdict and buffer.
    fn deliver_to_mirror(&mut self, datagram: &[u8]) -> (Upstream, Vec<u8>) {
        let (header, header_len) = match GreHeader::parse(datagram) {
            Ok(parsed) => parsed,
            Err(error) => panic!("the session built an unparsable GRE packet: {error}"),
        };
        assert_eq!(
            header.call_id,
            CallId(fixture::CLIENT_CALL_ID),
            "sent with the wrong Call ID"
        );
        assert_eq!(header_len + usize::from(header.payload_len), datagram.len());
        let mut buffer = datagram.to_vec();
        let verdict = self
            .mirror
            .decapsulate(&mut buffer, &header, header_len, self.now_secs);
        (verdict, buffer)
    }

    /// `encapsulate` an IP packet; the mirror must get it back.
    fn send_ip(&mut self, ip: &[u8]) {
        let mut slot = vec![0u8; HEADROOM + ip.len()];
        slot[HEADROOM..].copy_from_slice(ip);
        let Some((start, len)) = self.session.encapsulate(&mut slot, ip.len(), self.now_secs)
        else {
            match self.mode {
                Mode::Pending => {}
                Mode::Mppe(_) => self.mirror_out_of_step = true,
                Mode::Clear => {}
            }
            assert!(
                self.mode == Mode::Pending || ip.len() + 8 > usize::from(u16::MAX),
                "encapsulate refused a {}-octet packet",
                ip.len()
            );
            return;
        };
        assert_ne!(self.mode, Mode::Pending, "data sent before the MPPE keys");
        assert!(start + len <= slot.len());
        let (verdict, buffer) = self.deliver_to_mirror(&slot[start..start + len]);
        if self.mirror_out_of_step {
            return;
        }
        match verdict {
            Upstream::ToTun { start, len } => assert_eq!(
                &buffer[start..start + len],
                ip,
                "the mirror got other bytes"
            ),
            other => panic!("the mirror got {other:?} for an IP packet"),
        }
    }

    /// `encapsulate_frame` a PPP frame; a control frame must come out of the mirror as is.
    fn send_frame(&mut self, frame: &[u8]) {
        let mut slot = vec![0u8; 16 + frame.len()];
        let Some((start, len)) = self.session.encapsulate_frame(&mut slot, frame) else {
            assert!(
                frame.len() > usize::from(u16::MAX),
                "encapsulate_frame refused {} octets",
                frame.len()
            );
            return;
        };
        assert!(start + len <= slot.len());
        let datagram = &slot[start..start + len];
        if !ppp_protocol(frame).is_some_and(is_control) {
            // Not a control frame: delivering it would feed the mirror's cipher garbage.
            let _ = GreHeader::parse(datagram).expect("the session built an unparsable GRE packet");
            return;
        }
        match self.deliver_to_mirror(datagram) {
            (Upstream::ToControl { start, len }, buffer) => {
                assert_eq!(&buffer[start..start + len], frame)
            }
            (other, _) => panic!("the mirror got {other:?} for a control frame"),
        }
    }

    /// `ack_only`; the mirror must accept it as an acknowledgement.
    fn ack(&mut self) {
        let owed = self.session.ack_owed();
        let mut slot = [0u8; 16];
        let Some((start, len)) = self.session.ack_only(&mut slot) else {
            assert!(!owed, "an acknowledgement was owed but none was built");
            return;
        };
        assert!(owed, "an acknowledgement was built though none was owed");
        assert!(!self.session.ack_owed());
        let (verdict, _) = self.deliver_to_mirror(&slot[start..start + len]);
        assert_eq!(verdict, Upstream::Nothing);
    }
}

/// `datapath_session`: a gateway [`DataSession`] (first octet: crypto mode, see `Mode`) fed a
/// script of operations (see [`op`]).
///
/// Invariants: no panic; ToTun and ToControl ranges lie inside the GRE payload; nothing reaches
/// the TUN device before the keys, cleartext never does while MPPE is on, only IPv4 does in
/// cleartext mode; only control protocols go to the control task; the counters agree; what the
/// session sends parses, carries the peer's Call ID and comes out of the mirror session
/// unchanged.
pub fn datapath_session(data: &[u8]) {
    let mut input = Input::new(data);
    let mut sessions = Sessions::new(Mode::from_selector(input.byte().unwrap_or(0)));
    for _ in 0..MAX_OPERATIONS {
        let Some(code) = input.byte() else { break };
        match code % 8 {
            op::SEND_IP => {
                let Some(ip) = input.chunk() else { break };
                sessions.send_ip(ip);
            }
            op::SEND_FRAME => {
                let Some(frame) = input.chunk() else { break };
                sessions.send_frame(frame);
            }
            op::ACK => sessions.ack(),
            op::RESET => sessions.session.reset_encryptor(),
            op::TIME => sessions.now_secs += u64::from(input.byte().unwrap_or(0)),
            op::DATAGRAM => {
                let Some(datagram) = input.chunk() else { break };
                if let Ok((envelope, _)) = Ipv4Envelope::parse(datagram) {
                    sessions.receive(envelope.payload(datagram));
                }
            }
            _ => {
                let Some(packet) = input.chunk() else { break };
                sessions.receive(packet);
            }
        }
    }
}
