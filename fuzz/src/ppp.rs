//! Harnesses for PPP (RFC 1661, RFC 1994/2759, RFC 1962/3078, RFC 1332): the frame decoder and
//! pppd-style renderer, and a whole [`Link`] in the server role (the gateway) and in the client
//! role, each fed frames from the fuzzer with a fixed-seed RNG.
//!
//! A fuzzer cannot forge an MS-CHAPv2 response, so the scripts have operations that make the
//! harness compute one (server role) or the matching Success (client role) from what the link
//! sent: that is how fuzzing reaches the Network phase, CCP and IPCP.

use std::net::Ipv4Addr;

use ppp_core::chap::{ChapPacket, MsChapV2Response, user_name_for_hash};
use ppp_core::packet::Identifier;
use ppp_core::{
    Event, Link, LinkConfig, MppePolicy, PppFrame, Protocol, Reason, describe_frame, encode_frame,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::clock::Clock;
use crate::fixture;
use crate::input::Input;

/// Seed of the server link's RNG (magic numbers, CHAP challenges).
pub const SERVER_RNG_SEED: u64 = 0x7070_7470;
/// Seed of the client link's RNG (magic numbers, peer challenges).
pub const CLIENT_RNG_SEED: u64 = 0x7070_7463;

/// `ppp_frame`: [`PppFrame::decode`] and [`describe_frame`] on one buffer. A decoded frame's
/// payload is the tail of the buffer, its protocol is valid (odd low octet), and
/// [`encode_frame`] of the two decodes back to them.
pub fn ppp_frame(data: &[u8]) {
    let described = describe_frame(data);
    assert!(
        described.starts_with('[') && described.ends_with(']'),
        "{described}"
    );
    let Ok((protocol, payload)) = PppFrame::decode(data) else {
        return;
    };
    assert!(protocol.0 & 1 == 1, "even protocol {protocol} accepted");
    assert!(
        data.ends_with(payload),
        "the payload is not the tail of the frame"
    );
    let mut encoded = Vec::new();
    encode_frame(protocol, payload, &mut encoded);
    assert_eq!(
        PppFrame::decode(&encoded),
        Ok((protocol, payload)),
        "encode/decode round trip"
    );
}

/// Operation codes of the link scripts (the operation byte modulo 8).
pub mod op {
    /// A PPP frame from the peer (a chunk).
    pub const FRAME: u8 = 0;
    /// Time passes (argument: seconds, 0 = to the next deadline), then `handle_timeout`.
    pub const TIME: u8 = 1;
    /// Server: a correct-format MS-CHAPv2 Response to the last Challenge (argument: variant, see
    /// [`super::ServerHarness::respond`]). Client: a Success or Failure for the last Response
    /// (argument: variant, see [`super::ClientHarness::answer`]).
    pub const AUTH: u8 = 2;
    /// `close(AdminClose)`.
    pub const CLOSE: u8 = 3;
    /// `request_mppe_reset`.
    pub const MPPE_RESET: u8 = 4;
    /// `lower_down(LowerLayerDown)`.
    pub const LOWER_DOWN: u8 = 5;
    /// Client only: a well-formed MS-CHAPv2 Challenge (arguments: identifier, 16 octets).
    pub const CHALLENGE: u8 = 6;
}

/// The link options selected by the first octet of a link script: bits 0-2 pick the MPPE
/// policy (0 is the capture's `require-mppe-128`), bit 3 hands out DNS and NBNS servers, bit 4
/// turns LCP echo off.
fn link_config(mut config: LinkConfig, selector: u8) -> LinkConfig {
    let stateful = |policy: MppePolicy| MppePolicy {
        allow_stateful: true,
        ..policy
    };
    config.mppe = match selector & 7 {
        0 => MppePolicy::require_128(),
        1 => MppePolicy::require_any(),
        2 => MppePolicy::optional(),
        3 => MppePolicy::disabled(),
        4 => stateful(MppePolicy::require_128()),
        5 => stateful(MppePolicy::optional()),
        6 => MppePolicy {
            allow_40: true,
            ..MppePolicy::disabled()
        }
        .required(),
        _ => stateful(MppePolicy {
            allow_56: true,
            ..MppePolicy::disabled()
        }),
    };
    if selector & 8 != 0 {
        config.dns = [
            Some(Ipv4Addr::new(8, 8, 8, 8)),
            Some(Ipv4Addr::new(1, 1, 1, 1)),
        ];
        config.nbns = [Some(Ipv4Addr::new(10, 0, 0, 53)), None];
    }
    if selector & 16 != 0 {
        config.echo_interval = None;
    }
    config
}

/// `MppePolicy` with `required` set.
trait Required {
    fn required(self) -> Self;
}

impl Required for MppePolicy {
    fn required(self) -> Self {
        MppePolicy {
            required: true,
            ..self
        }
    }
}

/// What the link reported so far, and the checks on it common to both roles.
#[derive(Debug, Default)]
struct Observed {
    authenticated: bool,
    keys: bool,
    link_up: bool,
    down: bool,
}

/// Takes the link's next output: all queued frames, then one event (so that the caller acts
/// on each event before the link moves on, as the daemon does). `down_before` says whether
/// `Down` was reported during an earlier operation: after that nothing may be sent, while what
/// was queued together with `Down` may still go out. Every frame must decode.
fn next_output(
    link: &mut Link<ChaCha8Rng>,
    observed: &Observed,
    down_before: bool,
) -> (Vec<Vec<u8>>, Option<Event>) {
    let mut frames = Vec::new();
    while let Some(frame) = link.poll_transmit() {
        assert!(!down_before, "sent {} after Down", describe_frame(&frame));
        assert!(
            PppFrame::decode(&frame).is_ok(),
            "sent an undecodable frame {frame:02x?}"
        );
        frames.push(frame);
    }
    let event = link.poll_event();
    if let Some(event) = &event {
        assert!(!observed.down, "reported {event:?} after Down");
    }
    (frames, event)
}

/// Checks the state after Down.
fn check_finished(link: &Link<ChaCha8Rng>, observed: &Observed) {
    if observed.down {
        assert!(
            link.is_finished(),
            "Down reported but the link is not finished"
        );
        assert_eq!(link.poll_timeout(), None, "a timer is armed after Down");
    }
}

/// A link under test with its clock, the frames it sent and what it reported: what the
/// server and client harnesses share.
#[derive(Debug)]
struct DrivenLink {
    link: Link<ChaCha8Rng>,
    clock: Clock,
    mppe_required: bool,
    observed: Observed,
    sent: Vec<Vec<u8>>,
}

impl DrivenLink {
    /// A link with `config` and an RNG seeded with `seed`, opened (not drained yet).
    fn open(config: LinkConfig, seed: u64) -> Self {
        let mppe_required = config.mppe.required;
        let mut link = Link::new(config, ChaCha8Rng::seed_from_u64(seed));
        let clock = Clock::new();
        link.open(clock.now());
        DrivenLink {
            link,
            clock,
            mppe_required,
            observed: Observed::default(),
            sent: Vec::new(),
        }
    }

    /// Lets time pass and fires the timers; the next deadline must be later than now.
    fn advance(&mut self, arg: u8) {
        let now = self.clock.advance(arg, self.link.poll_timeout());
        self.link.handle_timeout(now);
        if let Some(next) = self.link.poll_timeout() {
            assert!(
                next > now,
                "handle_timeout left a deadline at or before now"
            );
        }
    }

    /// Takes everything the link has to say: each frame sent goes to `on_frame` and is kept,
    /// each event goes to `on_event` (which may act on the link) before the link moves on.
    fn drain(
        &mut self,
        mut on_frame: impl FnMut(&[u8]),
        mut on_event: impl FnMut(&mut Self, Event),
    ) {
        let down_before = self.observed.down;
        loop {
            let (frames, event) = next_output(&mut self.link, &self.observed, down_before);
            let idle = frames.is_empty() && event.is_none();
            for frame in frames {
                on_frame(&frame);
                self.sent.push(frame);
            }
            if let Some(event) = event {
                on_event(self, event);
            }
            if idle {
                break;
            }
        }
        check_finished(&self.link, &self.observed);
    }
}

/// The last MS-CHAPv2 Challenge in `frame`, if it is one: identifier and value.
fn chap_challenge(frame: &[u8]) -> Option<(Identifier, [u8; 16])> {
    let (Protocol::CHAP, payload) = PppFrame::decode(frame).ok()? else {
        return None;
    };
    match ChapPacket::decode(payload).ok()? {
        ChapPacket::Challenge {
            identifier, value, ..
        } => Some((identifier, value.try_into().ok()?)),
        _ => None,
    }
}

/// The gateway's link under test, with what it has told its owner.
#[derive(Debug)]
pub struct ServerHarness {
    driven: DrivenLink,
    challenge: Option<(Identifier, [u8; 16])>,
}

impl ServerHarness {
    /// A server link configured by `selector` (see the module's script format), opened.
    pub fn new(selector: u8) -> Self {
        let config = link_config(LinkConfig::server(fixture::SERVER_NAME), selector);
        let mut harness = ServerHarness {
            driven: DrivenLink::open(config, SERVER_RNG_SEED),
            challenge: None,
        };
        harness.drain();
        harness
    }

    /// Feeds a frame from the peer.
    pub fn frame(&mut self, frame: &[u8]) {
        let d = &mut self.driven;
        d.link.handle_frame(d.clock.now(), frame, &fixture::secrets);
        self.drain();
    }

    /// Lets time pass and fires the timers.
    pub fn time(&mut self, arg: u8) {
        self.driven.advance(arg);
        self.drain();
    }

    /// Answers the last Challenge: variant 0 as the right user with the right password, 1 with
    /// a wrong password, 2 as an unknown user, 3 as `DOMAIN\user` with the right password.
    /// The Peer-Challenge is the argument repeated.
    pub fn respond(&mut self, arg: u8) {
        let Some((identifier, challenge)) = self.challenge else {
            return;
        };
        let (name, password) = match arg % 4 {
            0 => (fixture::USER.to_owned(), fixture::PASSWORD),
            1 => (fixture::USER.to_owned(), "wrong"),
            2 => ("nobody".to_owned(), fixture::PASSWORD),
            _ => (format!("WORKGROUP\\{}", fixture::USER), fixture::PASSWORD),
        };
        let peer_challenge = [arg; 16];
        let nt_response = mschap::generate_nt_response(
            &challenge,
            &peer_challenge,
            user_name_for_hash(name.as_bytes()),
            &mschap::nt_password_hash(password),
        );
        let value = MsChapV2Response {
            peer_challenge,
            reserved: [0; 8],
            nt_response,
            flags: 0,
        }
        .to_bytes();
        let packet = ChapPacket::Response {
            identifier,
            value: &value,
            name: name.as_bytes(),
        }
        .to_vec();
        let mut frame = Vec::new();
        encode_frame(Protocol::CHAP, &packet, &mut frame);
        self.frame(&frame);
    }

    /// `close(AdminClose)`.
    pub fn close(&mut self) {
        let d = &mut self.driven;
        d.link.close(d.clock.now(), Reason::AdminClose);
        self.drain();
    }

    /// `request_mppe_reset`.
    pub fn mppe_reset(&mut self) {
        let d = &mut self.driven;
        d.link.request_mppe_reset(d.clock.now());
        self.drain();
    }

    /// `lower_down(LowerLayerDown)`.
    pub fn lower_down(&mut self) {
        self.driven.link.lower_down(Reason::LowerLayerDown);
        self.drain();
    }

    /// The frames sent since the last call.
    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.driven.sent)
    }

    /// Whether the link reported `LinkUp`.
    pub fn is_up(&self) -> bool {
        self.driven.observed.link_up
    }

    fn drain(&mut self) {
        let challenge = &mut self.challenge;
        self.driven.drain(
            |frame| {
                if let Some(sent) = chap_challenge(frame) {
                    *challenge = Some(sent);
                }
            },
            Self::on_event,
        );
    }

    fn on_event(d: &mut DrivenLink, event: Event) {
        match event {
            Event::Authenticated { user } => {
                assert!(
                    fixture::secrets(user_name_for_hash(user.as_bytes())).is_some(),
                    "authenticated {user:?}, who has no secret"
                );
                assert!(!d.observed.authenticated, "authenticated twice");
                d.observed.authenticated = true;
                // As the daemon does: the pool answers at once.
                d.link
                    .set_addresses(d.clock.now(), fixture::LOCAL_ADDR, fixture::PEER_ADDR);
            }
            Event::MppeKeys { .. } => {
                assert!(d.observed.authenticated, "MPPE keys before authentication");
                d.observed.keys = true;
            }
            Event::LinkUp { local, peer, .. } => {
                assert!(d.observed.authenticated, "LinkUp without authentication");
                assert!(
                    !d.mppe_required || d.observed.keys,
                    "LinkUp before the MPPE keys while MPPE is required"
                );
                assert_eq!((local, peer), (fixture::LOCAL_ADDR, fixture::PEER_ADDR));
                d.observed.link_up = true;
            }
            Event::Down(_) => d.observed.down = true,
            Event::AuthFailed { .. } | Event::MppeResetRequested | Event::AuthSucceeded => {}
        }
    }
}

/// `ppp_link_server`: a server-role [`Link`] driven by a script (first octet: options, see
/// `link_config`; then operations, see [`op`]). Invariants: no panic; every frame sent decodes;
/// only a user with a secret is authenticated; no keys before authentication; no `LinkUp`
/// before authentication, nor before the keys when MPPE is required; nothing sent or reported
/// after `Down`, and no timer armed; after `handle_timeout(now)` the next deadline is later.
pub fn ppp_link_server(data: &[u8]) {
    let mut input = Input::new(data);
    let mut harness = ServerHarness::new(input.byte().unwrap_or(0));
    while let Some(code) = input.byte() {
        match code % 8 {
            op::TIME => harness.time(input.byte().unwrap_or(0)),
            op::AUTH => harness.respond(input.byte().unwrap_or(0)),
            op::CLOSE => harness.close(),
            op::MPPE_RESET => harness.mppe_reset(),
            op::LOWER_DOWN => harness.lower_down(),
            _ => {
                let Some(frame) = input.chunk() else { break };
                harness.frame(frame);
            }
        }
    }
}

/// A client link under test (the role the test tools use), with what it has reported.
#[derive(Debug)]
pub struct ClientHarness {
    driven: DrivenLink,
    auth_succeeded: bool,
    /// The last Challenge fed to the client.
    challenge: Option<[u8; 16]>,
    /// The client's last Response: identifier, its value and name.
    response: Option<(Identifier, MsChapV2Response, Vec<u8>)>,
}

impl ClientHarness {
    /// A client link for the capture's credentials, configured by `selector`, opened.
    pub fn new(selector: u8) -> Self {
        let config = link_config(
            LinkConfig::client(fixture::USER, fixture::PASSWORD),
            selector,
        );
        let mut harness = ClientHarness {
            driven: DrivenLink::open(config, CLIENT_RNG_SEED),
            auth_succeeded: false,
            challenge: None,
            response: None,
        };
        harness.drain();
        harness
    }

    /// Feeds a frame from the server.
    pub fn frame(&mut self, frame: &[u8]) {
        if let Some((_, value)) = chap_challenge(frame) {
            self.challenge = Some(value);
        }
        let no_secrets = |_: &[u8]| None;
        let d = &mut self.driven;
        d.link.handle_frame(d.clock.now(), frame, &no_secrets);
        self.drain();
    }

    /// Lets time pass and fires the timers.
    pub fn time(&mut self, arg: u8) {
        self.driven.advance(arg);
        self.drain();
    }

    /// Sends a well-formed Challenge with `identifier` and `value`.
    pub fn challenge(&mut self, identifier: u8, value: [u8; 16]) {
        let packet = ChapPacket::Challenge {
            identifier: Identifier(identifier),
            value: &value,
            name: fixture::SERVER_NAME.as_bytes(),
        }
        .to_vec();
        let mut frame = Vec::new();
        encode_frame(Protocol::CHAP, &packet, &mut frame);
        self.frame(&frame);
    }

    /// Answers the client's last Response: variant 0 with the correct Success, 1 with a Success
    /// whose authenticator response is wrong, 2 with pppd's Failure.
    pub fn answer(&mut self, arg: u8) {
        let (Some(challenge), Some((identifier, response, name))) =
            (self.challenge, self.response.clone())
        else {
            return;
        };
        let mut authenticator = mschap::authenticator_response(
            &fixture::password_hash(),
            &response.nt_response,
            &response.peer_challenge,
            &challenge,
            user_name_for_hash(&name),
        );
        let (success, message) = match arg % 3 {
            0 => (true, mschap::success_message(&authenticator)),
            1 => {
                authenticator[0] ^= 1;
                (true, mschap::success_message(&authenticator))
            }
            _ => (false, mschap::failure_message(&challenge)),
        };
        let packet = if success {
            ChapPacket::Success {
                identifier,
                message: message.as_bytes(),
            }
        } else {
            ChapPacket::Failure {
                identifier,
                message: message.as_bytes(),
            }
        }
        .to_vec();
        let mut frame = Vec::new();
        encode_frame(Protocol::CHAP, &packet, &mut frame);
        self.frame(&frame);
    }

    /// `close(AdminClose)`.
    pub fn close(&mut self) {
        let d = &mut self.driven;
        d.link.close(d.clock.now(), Reason::AdminClose);
        self.drain();
    }

    /// `request_mppe_reset`.
    pub fn mppe_reset(&mut self) {
        let d = &mut self.driven;
        d.link.request_mppe_reset(d.clock.now());
        self.drain();
    }

    /// `lower_down(LowerLayerDown)`.
    pub fn lower_down(&mut self) {
        self.driven.link.lower_down(Reason::LowerLayerDown);
        self.drain();
    }

    /// The frames sent since the last call.
    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.driven.sent)
    }

    /// Whether the link reported `LinkUp`.
    pub fn is_up(&self) -> bool {
        self.driven.observed.link_up
    }

    fn drain(&mut self) {
        let response = &mut self.response;
        let auth_succeeded = &mut self.auth_succeeded;
        self.driven.drain(
            |frame| {
                if let Some(sent) = chap_response(frame) {
                    *response = Some(sent);
                }
            },
            |d, event| Self::on_event(d, auth_succeeded, event),
        );
    }

    fn on_event(d: &mut DrivenLink, auth_succeeded: &mut bool, event: Event) {
        match event {
            Event::AuthSucceeded => {
                assert!(!*auth_succeeded, "AuthSucceeded twice");
                *auth_succeeded = true;
            }
            Event::MppeKeys { .. } => {
                assert!(*auth_succeeded, "MPPE keys before authentication");
                d.observed.keys = true;
            }
            Event::LinkUp { .. } => {
                // A server that asks for no authentication is fine for a client (pppd's
                // default towards the peer), but then there are no keys.
                assert!(
                    !d.mppe_required || d.observed.keys,
                    "LinkUp before the MPPE keys while MPPE is required"
                );
                d.observed.link_up = true;
            }
            Event::Down(_) => d.observed.down = true,
            Event::Authenticated { .. } | Event::AuthFailed { .. } => {
                panic!("a client reported {event:?}")
            }
            Event::MppeResetRequested => {}
        }
    }
}

/// The MS-CHAPv2 Response in `frame`, if it is one.
fn chap_response(frame: &[u8]) -> Option<(Identifier, MsChapV2Response, Vec<u8>)> {
    let (Protocol::CHAP, payload) = PppFrame::decode(frame).ok()? else {
        return None;
    };
    match ChapPacket::decode(payload).ok()? {
        ChapPacket::Response {
            identifier,
            value,
            name,
        } => Some((
            identifier,
            MsChapV2Response::parse(value).ok()?,
            name.to_vec(),
        )),
        _ => None,
    }
}

/// `ppp_link_client`: a client-role [`Link`] driven by a script (first octet: options; then
/// operations, see [`op`]). Invariants: no panic; every frame sent decodes; no keys before the
/// server's Success was accepted; no `LinkUp` before the keys when MPPE is required; a client
/// never reports server events; nothing after `Down`.
pub fn ppp_link_client(data: &[u8]) {
    let mut input = Input::new(data);
    let mut harness = ClientHarness::new(input.byte().unwrap_or(0));
    while let Some(code) = input.byte() {
        match code % 8 {
            op::TIME => harness.time(input.byte().unwrap_or(0)),
            op::AUTH => harness.answer(input.byte().unwrap_or(0)),
            op::CLOSE => harness.close(),
            op::MPPE_RESET => harness.mppe_reset(),
            op::LOWER_DOWN => harness.lower_down(),
            op::CHALLENGE => {
                let identifier = input.byte().unwrap_or(0);
                harness.challenge(identifier, input.array());
            }
            _ => {
                let Some(frame) = input.chunk() else { break };
                harness.frame(frame);
            }
        }
    }
}
