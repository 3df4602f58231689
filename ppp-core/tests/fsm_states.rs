//! The RFC 1661 §4.1 state transition table, state by state.
//!
//! Each case puts a fresh automaton in a state, applies one event and checks the actions and
//! the next state against the table, written the way the RFC writes its cells
//! (`"tld,scr,sca" -> AckSent`). The observable actions are the packets (scr, sca, scn, str,
//! sta, scj) and the layer actions (tlu, tld, tls, tlf); irc and zrc only set a counter and are
//! checked through their effect on TO+/TO- in separate tests.
//!
//! Cells the pppd identifier rule makes unreachable (a second reply to a request whose reply
//! was already accepted: RCA/RCN in Ack-Rcvd and Opened) are tested as "discarded".

use std::time::{Duration, Instant};

use ppp_core::fsm::{Fsm, FsmConfig, FsmOptions, LayerAction, RequestVerdict, State};
use ppp_core::packet::{Code, ControlPacket, Identifier};
use ppp_core::{Protocol, Reason};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Option logic for the tests: we request option 1; a peer request containing option 2 is
/// Nak'ed, anything else acked.
#[derive(Debug, Default)]
struct TestOptions {
    resets: u32,
}

const GOOD: &[u8] = &[1, 2];
const BAD: &[u8] = &[2, 2];

impl FsmOptions for TestOptions {
    fn reset(&mut self) {
        self.resets += 1;
    }

    fn build_request(&mut self, _rng: &mut dyn RngCore, out: &mut Vec<u8>) {
        out.extend_from_slice(GOOD);
    }

    fn handle_request(
        &mut self,
        options: &[u8],
        reject_if_disagree: bool,
        _rng: &mut dyn RngCore,
    ) -> RequestVerdict {
        if options == BAD {
            if reject_if_disagree {
                RequestVerdict::Reject(BAD.to_vec())
            } else {
                RequestVerdict::Nak(BAD.to_vec())
            }
        } else {
            RequestVerdict::Ack
        }
    }

    fn handle_ack(&mut self, _options: &[u8]) {}

    fn handle_nak(&mut self, _options: &[u8], _treat: bool, _rng: &mut dyn RngCore) -> bool {
        true
    }

    fn handle_reject(&mut self, _options: &[u8]) -> bool {
        true
    }

    fn take_failure(&mut self) -> Option<Reason> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Up,
    Down,
    Open,
    Close,
    TimeoutPlus,
    TimeoutMinus,
    RcrGood,
    RcrBad,
    Rca,
    Rcn,
    Rtr,
    Rta,
    Ruc,
    RxjPlus,
    RxjMinus,
}

struct Harness {
    fsm: Fsm<TestOptions>,
    now: Instant,
    rng: ChaCha8Rng,
    peer_identifier: u8,
    request: Option<Identifier>,
    packets: Vec<&'static str>,
    actions: Vec<&'static str>,
}

impl Harness {
    fn new(config: FsmConfig) -> Self {
        Harness {
            fsm: Fsm::new(Protocol::LCP, TestOptions::default(), config),
            now: Instant::now(),
            rng: ChaCha8Rng::seed_from_u64(1),
            peer_identifier: 100,
            request: None,
            packets: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Records what the automaton sent and did since the last call.
    fn collect(&mut self) {
        while let Some(packet) = self.fsm.poll_transmit() {
            let decoded = ControlPacket::decode(&packet).unwrap();
            let name = match decoded.code {
                Code::CONFIGURE_REQUEST => {
                    self.request = Some(decoded.identifier);
                    "scr"
                }
                Code::CONFIGURE_ACK => "sca",
                Code::CONFIGURE_NAK | Code::CONFIGURE_REJECT => "scn",
                Code::TERMINATE_REQUEST => "str",
                Code::TERMINATE_ACK => "sta",
                Code::CODE_REJECT => "scj",
                other => panic!("unexpected code {other:?}"),
            };
            self.packets.push(name);
        }
        while let Some(action) = self.fsm.poll_action() {
            self.actions.push(match action {
                LayerAction::Up => "tlu",
                LayerAction::Down => "tld",
                LayerAction::Started => "tls",
                LayerAction::Finished => "tlf",
            });
        }
    }

    fn clear(&mut self) {
        self.collect();
        self.packets.clear();
        self.actions.clear();
    }

    fn receive(&mut self, code: Code, identifier: u8, data: &[u8]) {
        let raw = ControlPacket::to_vec(code, Identifier(identifier), data);
        let packet = ControlPacket::decode(&raw).unwrap();
        if !self.fsm.handle_packet(self.now, &packet, &mut self.rng) {
            self.fsm.reject_code(&packet);
        }
    }

    fn fire_timer(&mut self) {
        let deadline = self.fsm.timeout().expect("the restart timer runs");
        self.now = deadline;
        self.fsm.handle_timeout(self.now, &mut self.rng);
    }

    fn apply(&mut self, event: Event) {
        let now = self.now;
        match event {
            Event::Up => self.fsm.up(now, &mut self.rng),
            Event::Down => self.fsm.down(),
            Event::Open => self.fsm.open(now, &mut self.rng),
            Event::Close => self.fsm.close(now, b"bye"),
            Event::TimeoutPlus | Event::TimeoutMinus => self.fire_timer(),
            Event::RcrGood | Event::RcrBad => {
                self.peer_identifier += 1;
                let data = if event == Event::RcrGood { GOOD } else { BAD };
                self.receive(Code::CONFIGURE_REQUEST, self.peer_identifier, data);
            }
            Event::Rca => {
                let id = self.request.map_or(0, |id| id.0);
                self.receive(Code::CONFIGURE_ACK, id, GOOD);
            }
            Event::Rcn => {
                let id = self.request.map_or(0, |id| id.0);
                self.receive(Code::CONFIGURE_NAK, id, GOOD);
            }
            Event::Rtr => self.receive(Code::TERMINATE_REQUEST, 77, b""),
            Event::Rta => self.receive(Code::TERMINATE_ACK, 78, b""),
            Event::Ruc => self.receive(Code(0x40), 79, b"??"),
            // Code-Reject of an Echo-Request: permitted.
            Event::RxjPlus => self.receive(Code::CODE_REJECT, 80, &[9, 1, 0, 4]),
            // Code-Reject of Configure-Request: catastrophic.
            Event::RxjMinus => self.receive(Code::CODE_REJECT, 81, &[1, 1, 0, 4]),
        }
        self.collect();
    }

    /// Checks that `event` does `cell` ("tld,scr,sca", without irc/zrc) and lands in `next`.
    fn expect(mut self, event: Event, cell: &str, next: State) {
        let from = self.fsm.state();
        self.clear();
        self.apply(event);
        let (packets, actions): (Vec<&str>, Vec<&str>) = cell
            .split(',')
            .filter(|action| !action.is_empty() && *action != "irc" && *action != "zrc")
            .partition(|action| !action.starts_with("tl"));
        assert_eq!(
            (self.packets.clone(), self.actions.clone(), self.fsm.state()),
            (packets, actions, next),
            "{from:?} + {event:?}: expected {cell}/{next:?}"
        );
    }
}

fn config() -> FsmConfig {
    FsmConfig::default()
}

/// Counters of one: the next timer expiry after a send is TO-.
fn config_single() -> FsmConfig {
    FsmConfig {
        max_configure: 1,
        max_terminate: 1,
        ..FsmConfig::default()
    }
}

/// A harness in `state`, reached through the table itself.
fn harness_in(state: State, config: FsmConfig) -> Harness {
    let mut h = Harness::new(config);
    match state {
        State::Initial => {}
        State::Starting => h.apply(Event::Open),
        State::Closed => h.apply(Event::Up),
        State::RequestSent => {
            h.apply(Event::Open);
            h.apply(Event::Up);
        }
        State::AckReceived => {
            h = harness_in(State::RequestSent, config);
            h.apply(Event::Rca);
        }
        State::AckSent => {
            h = harness_in(State::RequestSent, config);
            h.apply(Event::RcrGood);
        }
        State::Opened => {
            h = harness_in(State::AckReceived, config);
            h.apply(Event::RcrGood);
        }
        State::Stopped => {
            // TO- in Req-Sent, with a single Configure-Request allowed.
            h = harness_in(State::RequestSent, config_single());
            h.apply(Event::TimeoutMinus);
        }
        State::Closing => {
            h = harness_in(State::RequestSent, config);
            h.apply(Event::Close);
        }
        State::Stopping => {
            // RXJ- in Opened: tld, irc, str (the counter stays positive for TO+).
            h = harness_in(State::Opened, config);
            h.apply(Event::RxjMinus);
        }
    }
    assert_eq!(h.fsm.state(), state, "setting up {state:?}");
    h
}

fn check(state: State, cases: &[(Event, &str, State)]) {
    for (event, cell, next) in cases {
        harness_in(state, config()).expect(*event, cell, *next);
    }
}

use Event::*;
use State::*;

#[test]
fn state_0_initial() {
    check(
        Initial,
        &[
            (Up, "", Closed),
            (Down, "", Initial),
            (Open, "tls", Starting),
            (Close, "", Initial),
            // Receive events cannot happen without a lower layer; they are ignored.
            (RcrGood, "", Initial),
            (Rtr, "", Initial),
            (Ruc, "", Initial),
        ],
    );
}

#[test]
fn state_1_starting() {
    check(
        Starting,
        &[
            (Up, "irc,scr", RequestSent),
            (Down, "", Starting),
            (Open, "", Starting),
            (Close, "tlf", Initial),
            (RcrGood, "", Starting),
            (Rca, "", Starting),
            (Ruc, "", Starting),
        ],
    );
}

#[test]
fn state_2_closed() {
    check(
        Closed,
        &[
            (Down, "", Initial),
            (Open, "irc,scr", RequestSent),
            (Close, "", Closed),
            (RcrGood, "sta", Closed),
            (RcrBad, "sta", Closed),
            (Rtr, "sta", Closed),
            (Rta, "", Closed),
            (Ruc, "scj", Closed),
            (RxjPlus, "", Closed),
            (RxjMinus, "tlf", Closed),
        ],
    );
    // RCA and RCN need a request still awaiting its reply: Close in Req-Sent, then TO-.
    for (event, cell) in [(Rca, "sta"), (Rcn, "sta")] {
        let mut h = harness_in(RequestSent, config_single());
        h.apply(Close);
        h.apply(TimeoutMinus);
        assert_eq!(h.fsm.state(), Closed);
        // The Configure-Request sent before the close is what the peer answers.
        h.request = Some(Identifier(1));
        h.expect(event, cell, Closed);
    }
}

#[test]
fn state_3_stopped() {
    check(
        Stopped,
        &[
            (Down, "tls", Starting),
            (Open, "", Stopped),
            (Close, "", Closed),
            (RcrGood, "irc,scr,sca", AckSent),
            (RcrBad, "irc,scr,scn", RequestSent),
            (Rca, "sta", Stopped),
            (Rcn, "sta", Stopped),
            (Rtr, "sta", Stopped),
            (Rta, "", Stopped),
            (Ruc, "scj", Stopped),
            (RxjPlus, "", Stopped),
            (RxjMinus, "tlf", Stopped),
        ],
    );
}

#[test]
fn state_4_closing() {
    check(
        Closing,
        &[
            (Down, "", Initial),
            (Open, "", Stopping),
            (Close, "", Closing),
            (TimeoutPlus, "str", Closing),
            (RcrGood, "", Closing),
            (RcrBad, "", Closing),
            (Rca, "", Closing),
            (Rcn, "", Closing),
            (Rtr, "sta", Closing),
            (Rta, "tlf", Closed),
            (Ruc, "scj", Closing),
            (RxjPlus, "", Closing),
            (RxjMinus, "tlf", Closed),
        ],
    );
    let mut h = harness_in(RequestSent, config_single());
    h.apply(Close);
    h.expect(TimeoutMinus, "tlf", Closed);
}

#[test]
fn state_5_stopping() {
    check(
        Stopping,
        &[
            (Down, "", Starting),
            (Open, "", Stopping),
            (Close, "", Closing),
            (TimeoutPlus, "str", Stopping),
            (RcrGood, "", Stopping),
            (RcrBad, "", Stopping),
            (Rtr, "sta", Stopping),
            (Rta, "tlf", Stopped),
            (Ruc, "scj", Stopping),
            (RxjPlus, "", Stopping),
            (RxjMinus, "tlf", Stopped),
        ],
    );
    // Stopping through RTR in Opened zeroes the counter (zrc): the next expiry is TO-.
    let mut h = harness_in(Opened, config());
    h.apply(Rtr);
    assert_eq!(h.fsm.state(), Stopping);
    h.expect(TimeoutMinus, "tlf", Stopped);
}

#[test]
fn state_6_request_sent() {
    check(
        RequestSent,
        &[
            (Down, "", Starting),
            (Open, "", RequestSent),
            (Close, "irc,str", Closing),
            (TimeoutPlus, "scr", RequestSent),
            (RcrGood, "sca", AckSent),
            (RcrBad, "scn", RequestSent),
            (Rca, "irc", AckReceived),
            (Rcn, "irc,scr", RequestSent),
            (Rtr, "sta", RequestSent),
            (Rta, "", RequestSent),
            (Ruc, "scj", RequestSent),
            (RxjPlus, "", RequestSent),
            (RxjMinus, "tlf", Stopped),
        ],
    );
    harness_in(RequestSent, config_single()).expect(TimeoutMinus, "tlf", Stopped);
}

#[test]
fn state_7_ack_received() {
    check(
        AckReceived,
        &[
            (Down, "", Starting),
            (Open, "", AckReceived),
            (Close, "irc,str", Closing),
            (TimeoutPlus, "scr", RequestSent),
            (RcrGood, "sca,tlu", Opened),
            (RcrBad, "scn", AckReceived),
            // RFC: scr/6 ("crossed connection"); the reply to this request was already
            // accepted, so a second one is a duplicate and is discarded.
            (Rca, "", AckReceived),
            (Rcn, "", AckReceived),
            (Rtr, "sta", RequestSent),
            (Rta, "", RequestSent),
            (Ruc, "scj", AckReceived),
            (RxjPlus, "", AckReceived),
            (RxjMinus, "tlf", Stopped),
        ],
    );
    // RCA did irc, so TO- in Ack-Rcvd needs a Max-Configure of zero.
    let zero = FsmConfig {
        max_configure: 0,
        ..FsmConfig::default()
    };
    harness_in(AckReceived, zero).expect(TimeoutMinus, "tlf", Stopped);
}

#[test]
fn state_8_ack_sent() {
    check(
        AckSent,
        &[
            (Down, "", Starting),
            (Open, "", AckSent),
            (Close, "irc,str", Closing),
            (TimeoutPlus, "scr", AckSent),
            (RcrGood, "sca", AckSent),
            (RcrBad, "scn", RequestSent),
            (Rca, "irc,tlu", Opened),
            (Rcn, "irc,scr", AckSent),
            (Rtr, "sta", RequestSent),
            (Rta, "", AckSent),
            (Ruc, "scj", AckSent),
            (RxjPlus, "", AckSent),
            (RxjMinus, "tlf", Stopped),
        ],
    );
    harness_in(AckSent, config_single()).expect(TimeoutMinus, "tlf", Stopped);
}

#[test]
fn state_9_opened() {
    check(
        Opened,
        &[
            (Down, "tld", Starting),
            (Open, "", Opened),
            (Close, "tld,irc,str", Closing),
            (RcrGood, "tld,scr,sca", AckSent),
            (RcrBad, "tld,scr,scn", RequestSent),
            // RFC: tld,scr/6 ("crossed connection"); unreachable with the identifier rule.
            (Rca, "", Opened),
            (Rcn, "", Opened),
            (Rtr, "tld,zrc,sta", Stopping),
            (Rta, "tld,scr", RequestSent),
            (Ruc, "scj", Opened),
            (RxjPlus, "", Opened),
            (RxjMinus, "tld,irc,str", Stopping),
        ],
    );
    // No restart timer in Opened.
    assert_eq!(harness_in(Opened, config()).fsm.timeout(), None);
}

#[test]
fn irc_restarts_the_configure_counter() {
    // Max-Configure 2: one retransmission, then TO-.
    let two = FsmConfig {
        max_configure: 2,
        ..FsmConfig::default()
    };
    let mut h = harness_in(RequestSent, two);
    h.apply(TimeoutPlus);
    assert_eq!(h.fsm.state(), RequestSent);
    h.clear();
    h.apply(TimeoutMinus);
    assert_eq!((h.actions.clone(), h.fsm.state()), (vec!["tlf"], Stopped));

    // RCN does irc: after it, the counter is full again and TO+ resends.
    let mut h = harness_in(RequestSent, two);
    h.apply(TimeoutPlus);
    h.apply(Rcn);
    h.clear();
    h.apply(TimeoutPlus);
    assert_eq!(
        (h.packets.clone(), h.fsm.state()),
        (vec!["scr"], RequestSent)
    );
}

#[test]
fn max_terminate_bounds_terminate_requests() {
    let mut h = harness_in(Opened, config());
    h.apply(Close);
    h.apply(TimeoutPlus);
    h.clear();
    // Max-Terminate 2: the second expiry gives up.
    h.apply(TimeoutMinus);
    assert_eq!(
        (h.packets.clone(), h.actions.clone()),
        (vec![], vec!["tlf"])
    );
    assert_eq!(h.fsm.state(), Closed);
}

#[test]
fn restart_timer_uses_the_configured_interval() {
    let mut config = config();
    config.restart_interval = Duration::from_millis(1500);
    let h = harness_in(RequestSent, config);
    assert_eq!(h.fsm.timeout(), Some(h.now + Duration::from_millis(1500)));
}

#[test]
fn max_failure_turns_naks_into_rejects() {
    // Five Naks were sent without an Ack; the sixth disagreement is a Reject.
    let mut h = harness_in(RequestSent, config());
    let mut codes = Vec::new();
    for _ in 0..6 {
        h.peer_identifier += 1;
        let raw =
            ControlPacket::to_vec(Code::CONFIGURE_REQUEST, Identifier(h.peer_identifier), BAD);
        let packet = ControlPacket::decode(&raw).unwrap();
        h.fsm.handle_packet(h.now, &packet, &mut h.rng);
        while let Some(sent) = h.fsm.poll_transmit() {
            codes.push(ControlPacket::decode(&sent).unwrap().code);
        }
    }
    assert_eq!(codes[..5], [Code::CONFIGURE_NAK; 5]);
    assert_eq!(codes[5], Code::CONFIGURE_REJECT);
}

#[test]
fn replies_must_match_the_request() {
    let mut h = harness_in(RequestSent, config());
    let id = h.request.unwrap().0;
    h.clear();
    // Wrong identifier, or options that differ from the request: silently discarded.
    h.receive(Code::CONFIGURE_ACK, id.wrapping_add(1), GOOD);
    h.receive(Code::CONFIGURE_ACK, id, &[1, 3, 0]);
    // A Reject listing an option we did not send is discarded too.
    h.receive(Code::CONFIGURE_REJECT, id, &[5, 2]);
    h.collect();
    assert_eq!(h.fsm.state(), RequestSent);
    assert!(h.packets.is_empty() && h.actions.is_empty());
    h.receive(Code::CONFIGURE_ACK, id, GOOD);
    assert_eq!(h.fsm.state(), AckReceived);
}

#[test]
fn retransmission_keeps_identifier_and_new_request_changes_it() {
    let mut h = harness_in(RequestSent, config());
    let first = h.request.unwrap();
    h.apply(TimeoutPlus);
    assert_eq!(h.request, Some(first), "TO+ retransmits the same request");
    h.apply(Rcn);
    assert_ne!(
        h.request,
        Some(first),
        "after a reply the Identifier changes"
    );
}

#[test]
fn late_duplicates_do_not_restart_an_opened_automaton() {
    let mut h = harness_in(RequestSent, config());
    h.apply(RcrBad); // peer id 101, Nak'ed
    h.apply(RcrGood); // peer id 102, acked
    h.apply(Rca);
    assert_eq!(h.fsm.state(), Opened);
    h.clear();
    // A copy of the acked request: only the Ack again.
    h.receive(Code::CONFIGURE_REQUEST, 102, GOOD);
    // A copy of the older, Nak'ed request: discarded.
    h.receive(Code::CONFIGURE_REQUEST, 101, BAD);
    h.collect();
    assert_eq!(
        (h.packets.clone(), h.actions.clone()),
        (vec!["sca"], vec![])
    );
    assert_eq!(h.fsm.state(), Opened);
    // A new request (a real renegotiation) still restarts it, as the table says.
    h.apply(RcrGood);
    assert_eq!(h.fsm.state(), AckSent);
}

#[test]
fn options_reset_at_the_start_of_each_negotiation() {
    let mut h = harness_in(Opened, config());
    let before = h.fsm.options().resets;
    h.apply(RcrGood); // tld, scr: a new negotiation
    assert_eq!(h.fsm.options().resets, before + 1);
    h.apply(TimeoutPlus); // a retransmission is not a new negotiation
    assert_eq!(h.fsm.options().resets, before + 1);
}
