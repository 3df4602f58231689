//! A client-role link against a server-role link through an in-memory pipe with a simulated
//! clock that can lose, reorder (random latency) and duplicate frames, seeded.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::*;
use ppp_core::{Event, Link, LinkConfig, MppePolicy, MppeStrength, Reason, describe_frame};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const DNS: [Option<Ipv4Addr>; 2] = [
    Some(Ipv4Addr::new(8, 8, 8, 8)),
    Some(Ipv4Addr::new(1, 1, 1, 1)),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

struct Conditions {
    loss: f64,
    duplicate: f64,
    max_latency_ms: u64,
}

const PERFECT: Conditions = Conditions {
    loss: 0.0,
    duplicate: 0.0,
    max_latency_ms: 1,
};

struct Sim {
    now: Instant,
    start: Instant,
    server: Link<ChaCha8Rng>,
    client: Link<ChaCha8Rng>,
    secrets: OneUser,
    net: ChaCha8Rng,
    conditions: Conditions,
    in_flight: Vec<(Instant, u64, Side, Vec<u8>)>,
    sequence: u64,
    /// Frames from this side are dropped (a silent peer).
    silenced: Option<Side>,
    server_events: Vec<Event>,
    client_events: Vec<Event>,
    /// Every frame put on the wire, rendered, for failure messages.
    trace: Vec<String>,
    wire: Vec<(Side, Vec<u8>)>,
}

impl Sim {
    fn new(server: LinkConfig, client: LinkConfig, seed: u64, conditions: Conditions) -> Self {
        let start = epoch();
        Sim {
            now: start,
            start,
            server: Link::new(server, seeded(seed * 3 + 1)),
            client: Link::new(client, seeded(seed * 3 + 2)),
            secrets: OneUser {
                user: b"alice",
                password: "correct horse",
            },
            net: seeded(seed * 3 + 3),
            conditions,
            in_flight: Vec::new(),
            sequence: 0,
            silenced: None,
            server_events: Vec::new(),
            client_events: Vec::new(),
            trace: Vec::new(),
            wire: Vec::new(),
        }
    }

    fn open(&mut self) {
        self.server.open(self.now);
        self.client.open(self.now);
    }

    fn send_outputs(&mut self) {
        for side in [Side::Server, Side::Client] {
            loop {
                let frame = match side {
                    Side::Server => self.server.poll_transmit(),
                    Side::Client => self.client.poll_transmit(),
                };
                let Some(frame) = frame else { break };
                let at = self.now.duration_since(self.start).as_millis();
                self.trace.push(format!(
                    "{at:>6} ms {side:?} sent {}",
                    describe_frame(&frame)
                ));
                self.wire.push((side, frame.clone()));
                if self.silenced == Some(side) || self.net.random_bool(self.conditions.loss) {
                    continue;
                }
                let copies = if self.net.random_bool(self.conditions.duplicate) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let latency = self.net.random_range(1..=self.conditions.max_latency_ms);
                    self.sequence += 1;
                    self.in_flight.push((
                        self.now + Duration::from_millis(latency),
                        self.sequence,
                        side,
                        frame.clone(),
                    ));
                }
            }
        }
    }

    fn collect_events(&mut self) {
        while let Some(event) = self.server.poll_event() {
            if let Event::Authenticated { .. } = event {
                // The daemon answers synchronously with the addresses.
                self.server.set_addresses(self.now, LOCAL, PEER);
            }
            self.server_events.push(event);
        }
        while let Some(event) = self.client.poll_event() {
            self.client_events.push(event);
        }
    }

    /// One step of simulated time; false when nothing is left to happen.
    fn step(&mut self) -> bool {
        self.collect_events();
        self.send_outputs();
        let next = [
            self.server.poll_timeout(),
            self.client.poll_timeout(),
            self.in_flight.iter().map(|(at, ..)| *at).min(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        self.in_flight
            .sort_by_key(|(at, sequence, ..)| (*at, *sequence));
        let due: Vec<_> = self
            .in_flight
            .iter()
            .filter(|(at, ..)| *at <= self.now)
            .cloned()
            .collect();
        self.in_flight.retain(|(at, ..)| *at > self.now);
        for (_, _, from, frame) in due {
            match from {
                Side::Server => self.client.handle_frame(self.now, &frame, &no_secrets),
                Side::Client => self.server.handle_frame(self.now, &frame, &self.secrets),
            }
            self.collect_events();
        }
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.collect_events();
        true
    }

    /// Runs until `done` holds or `limit` of simulated time passed.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        while !done(self) {
            if self.now > end || !self.step() {
                return done(self);
            }
        }
        true
    }

    fn both_up(&self) -> bool {
        has_link_up(&self.server_events) && has_link_up(&self.client_events)
    }

    fn both_down(&self) -> bool {
        down_reason(&self.server_events).is_some() && down_reason(&self.client_events).is_some()
    }

    fn explain(&self) -> String {
        format!(
            "server events {:?}\nclient events {:?}\n{}",
            self.server_events,
            self.client_events,
            self.trace.join("\n")
        )
    }
}

fn has_link_up(events: &[Event]) -> bool {
    events
        .iter()
        .any(|event| matches!(event, Event::LinkUp { .. }))
}

fn down_reason(events: &[Event]) -> Option<Reason> {
    events.iter().find_map(|event| match event {
        Event::Down(reason) => Some(*reason),
        _ => None,
    })
}

fn keys(events: &[Event]) -> Option<([u8; 16], [u8; 16], MppeStrength, bool)> {
    events.iter().find_map(|event| match event {
        Event::MppeKeys {
            send,
            recv,
            strength,
            stateless,
        } => Some((*send, *recv, *strength, *stateless)),
        _ => None,
    })
}

fn server_config() -> LinkConfig {
    let mut config = LinkConfig::server("gateway");
    config.dns = DNS;
    config.echo_interval = Some(Duration::from_secs(10));
    config.echo_failure = 3;
    config
}

fn client_config(password: &str) -> LinkConfig {
    let mut config = LinkConfig::client("alice", password);
    config.echo_interval = None;
    config
}

fn assert_up_with_matching_keys(sim: &Sim) {
    let (server_send, server_recv, strength, stateless) =
        keys(&sim.server_events).expect("server keys");
    let (client_send, client_recv, client_strength, client_stateless) =
        keys(&sim.client_events).expect("client keys");
    assert_eq!(client_send, server_recv, "client send == server recv");
    assert_eq!(client_recv, server_send, "client recv == server send");
    assert_ne!(server_send, server_recv);
    assert_eq!((strength, stateless), (MppeStrength::Bits128, true));
    assert_eq!((client_strength, client_stateless), (strength, stateless));
    assert!(sim.server.mppe_active() && sim.client.mppe_active());
    assert!(sim.server_events.contains(&Event::LinkUp {
        local: LOCAL,
        peer: PEER,
        dns: DNS
    }));
    assert!(sim.client_events.contains(&Event::LinkUp {
        local: PEER,
        peer: LOCAL,
        dns: DNS
    }));
    // Keys are always handed out before the link is reported up.
    for events in [&sim.server_events, &sim.client_events] {
        let keys_at = events
            .iter()
            .position(|event| matches!(event, Event::MppeKeys { .. }));
        let up_at = events
            .iter()
            .position(|event| matches!(event, Event::LinkUp { .. }));
        assert!(keys_at < up_at);
    }
}

#[test]
fn perfect_pipe_comes_up_with_matching_keys() {
    let mut sim = Sim::new(server_config(), client_config("correct horse"), 1, PERFECT);
    sim.open();
    assert!(
        sim.run_until(Duration::from_secs(5), Sim::both_up),
        "{}",
        sim.explain()
    );
    assert_up_with_matching_keys(&sim);
    assert_eq!(
        sim.server_events.first(),
        Some(&Event::Authenticated {
            user: "alice".into()
        })
    );
    assert!(sim.client_events.contains(&Event::AuthSucceeded));
    // Without loss the whole negotiation takes a handful of round trips, no retransmission.
    assert!(sim.now.duration_since(sim.start) < Duration::from_secs(1));
}

#[test]
fn lossy_reordering_duplicating_pipe_comes_up() {
    for seed in 0..50 {
        let conditions = Conditions {
            loss: 0.2,
            duplicate: 0.2,
            max_latency_ms: 200,
        };
        // Three misses in a row are likely over a 36 % round-trip loss: allow more here.
        let mut server = server_config();
        server.echo_failure = 8;
        let mut sim = Sim::new(server, client_config("correct horse"), seed, conditions);
        sim.open();
        let up = sim.run_until(Duration::from_secs(120), Sim::both_up);
        assert!(up, "seed {seed}\n{}", sim.explain());
        assert_up_with_matching_keys(&sim);
        assert_eq!(down_reason(&sim.server_events), None, "seed {seed}");
        assert_eq!(down_reason(&sim.client_events), None, "seed {seed}");
        // And it stays up for a while: keepalives are answered through the bad pipe.
        sim.run_until(Duration::from_secs(60), |sim| {
            down_reason(&sim.server_events).is_some()
        });
        assert_eq!(
            down_reason(&sim.server_events),
            None,
            "seed {seed}\n{}",
            sim.explain()
        );
    }
}

#[test]
fn wrong_password_fails_on_both_sides() {
    let mut sim = Sim::new(server_config(), client_config("wrong"), 2, PERFECT);
    sim.open();
    assert!(
        sim.run_until(Duration::from_secs(30), Sim::both_down),
        "{}",
        sim.explain()
    );
    assert!(sim.server_events.contains(&Event::AuthFailed {
        user: "alice".into()
    }));
    assert_eq!(down_reason(&sim.server_events), Some(Reason::AuthFailed));
    assert_eq!(down_reason(&sim.client_events), Some(Reason::AuthFailed));
    assert!(!has_link_up(&sim.server_events));
    let failure = sim
        .wire
        .iter()
        .find(|(side, frame)| {
            *side == Side::Server && frame.starts_with(&[0xff, 0x03, 0xc2, 0x23, 4])
        })
        .map(|(_, frame)| frame[8..].to_vec())
        .expect("a CHAP Failure was sent");
    let text = String::from_utf8(failure).unwrap();
    assert!(text.starts_with("E=691 R=1 C="), "{text}");
    assert!(text.ends_with(" V=0 M=Access denied"), "{text}");
    assert_eq!(text.len(), "E=691 R=1 C= V=0 M=Access denied".len() + 32);
    // No key material was ever handed out.
    assert_eq!(keys(&sim.server_events), None);
}

#[test]
fn unknown_user_fails() {
    let mut client = client_config("correct horse");
    client.credentials.as_mut().unwrap().user = "mallory".into();
    let mut sim = Sim::new(server_config(), client, 3, PERFECT);
    sim.open();
    assert!(
        sim.run_until(Duration::from_secs(30), Sim::both_down),
        "{}",
        sim.explain()
    );
    assert!(sim.server_events.contains(&Event::AuthFailed {
        user: "mallory".into()
    }));
    assert_eq!(down_reason(&sim.client_events), Some(Reason::AuthFailed));
}

#[test]
fn client_without_mppe_is_refused_when_mppe_is_required() {
    let mut client = client_config("correct horse");
    client.mppe = MppePolicy::disabled();
    let mut sim = Sim::new(server_config(), client, 4, PERFECT);
    sim.open();
    assert!(
        sim.run_until(Duration::from_secs(30), Sim::both_down),
        "{}",
        sim.explain()
    );
    assert_eq!(down_reason(&sim.server_events), Some(Reason::MppeRefused));
    assert_eq!(
        down_reason(&sim.client_events),
        Some(Reason::PeerTerminated)
    );
    assert!(!has_link_up(&sim.server_events));
    // The client Protocol-Rejected CCP.
    assert!(
        sim.trace
            .iter()
            .any(|line| line.contains("Client sent [LCP ProtRej") && line.contains("proto=0x80fd")),
        "{}",
        sim.explain()
    );
}

#[test]
fn forty_bit_only_client_is_refused_by_require_mppe_128() {
    let mut client = client_config("correct horse");
    client.mppe = MppePolicy {
        required: true,
        allow_128: false,
        allow_56: false,
        allow_40: true,
        allow_stateful: false,
    };
    let mut sim = Sim::new(server_config(), client, 5, PERFECT);
    sim.open();
    assert!(
        sim.run_until(Duration::from_secs(30), Sim::both_down),
        "{}",
        sim.explain()
    );
    assert_eq!(down_reason(&sim.server_events), Some(Reason::MppeRefused));
    assert_eq!(down_reason(&sim.client_events), Some(Reason::MppeRefused));
    assert_eq!(keys(&sim.server_events), None);
}

#[test]
fn optional_mppe_client_and_server_agree_on_128_bits() {
    let mut server = server_config();
    server.mppe = MppePolicy::require_any();
    let mut client = client_config("correct horse");
    client.mppe = MppePolicy::optional();
    let mut sim = Sim::new(server, client, 6, PERFECT);
    sim.open();
    assert!(
        sim.run_until(Duration::from_secs(10), Sim::both_up),
        "{}",
        sim.explain()
    );
    assert_up_with_matching_keys(&sim);
}

#[test]
fn no_mppe_anywhere_comes_up_in_cleartext() {
    let mut server = server_config();
    server.mppe = MppePolicy::disabled();
    let mut client = client_config("correct horse");
    client.mppe = MppePolicy::disabled();
    let mut sim = Sim::new(server, client, 7, PERFECT);
    sim.open();
    assert!(
        sim.run_until(Duration::from_secs(10), Sim::both_up),
        "{}",
        sim.explain()
    );
    assert_eq!(keys(&sim.server_events), None);
    assert!(!sim.server.mppe_active());
}

#[test]
fn echo_timeout_when_the_peer_goes_silent() {
    let mut sim = Sim::new(server_config(), client_config("correct horse"), 8, PERFECT);
    sim.open();
    assert!(sim.run_until(Duration::from_secs(5), Sim::both_up));
    let silent_at = sim.now;
    sim.silenced = Some(Side::Client);
    assert!(sim.run_until(Duration::from_secs(120), |sim| {
        down_reason(&sim.server_events).is_some()
    }));
    assert_eq!(down_reason(&sim.server_events), Some(Reason::EchoTimeout));
    // 3 unanswered requests 10 s apart, the 4th tick declares the peer dead, then two
    // Terminate-Requests 3 s apart.
    let took = sim.now.duration_since(silent_at);
    assert!(
        took >= Duration::from_secs(40) && took <= Duration::from_secs(47),
        "{took:?}"
    );
    let echo_requests = sim
        .trace
        .iter()
        .filter(|line| line.contains("Server sent [LCP EchoReq"))
        .count();
    assert_eq!(echo_requests, 3);
}

#[test]
fn echo_keeps_a_quiet_link_up() {
    let mut sim = Sim::new(server_config(), client_config("correct horse"), 9, PERFECT);
    sim.open();
    assert!(sim.run_until(Duration::from_secs(5), Sim::both_up));
    sim.run_until(Duration::from_secs(600), |sim| {
        down_reason(&sim.server_events).is_some()
    });
    assert_eq!(down_reason(&sim.server_events), None);
    assert!(
        sim.trace
            .iter()
            .filter(|line| line.contains("Client sent [LCP EchoRep"))
            .count()
            >= 50
    );
}

#[test]
fn server_terminates() {
    let mut sim = Sim::new(server_config(), client_config("correct horse"), 10, PERFECT);
    sim.open();
    assert!(sim.run_until(Duration::from_secs(5), Sim::both_up));
    sim.server.close(sim.now, Reason::AdminClose);
    assert!(
        sim.run_until(Duration::from_secs(30), Sim::both_down),
        "{}",
        sim.explain()
    );
    assert_eq!(down_reason(&sim.server_events), Some(Reason::AdminClose));
    assert_eq!(
        down_reason(&sim.client_events),
        Some(Reason::PeerTerminated)
    );
    assert!(sim.server.is_finished() && sim.client.is_finished());
    assert_eq!(sim.server.poll_timeout(), None);
    // The Terminate-Request says why, like pppd's "User request".
    assert!(
        sim.trace
            .iter()
            .any(|line| line.contains("Server sent [LCP TermReq")
                && line.contains("administrative close"))
    );
}

#[test]
fn client_terminates() {
    let mut sim = Sim::new(server_config(), client_config("correct horse"), 11, PERFECT);
    sim.open();
    assert!(sim.run_until(Duration::from_secs(5), Sim::both_up));
    sim.client.close(sim.now, Reason::AdminClose);
    assert!(
        sim.run_until(Duration::from_secs(30), Sim::both_down),
        "{}",
        sim.explain()
    );
    assert_eq!(
        down_reason(&sim.server_events),
        Some(Reason::PeerTerminated)
    );
    assert_eq!(down_reason(&sim.client_events), Some(Reason::AdminClose));
    // Down is reported once.
    let downs = sim
        .server_events
        .iter()
        .filter(|event| matches!(event, Event::Down(_)))
        .count();
    assert_eq!(downs, 1);
}

#[test]
fn terminate_through_a_lossy_pipe_still_ends_both_sides() {
    for seed in 20..26 {
        let conditions = Conditions {
            loss: 0.3,
            duplicate: 0.1,
            max_latency_ms: 50,
        };
        let mut sim = Sim::new(
            server_config(),
            client_config("correct horse"),
            seed,
            conditions,
        );
        sim.open();
        assert!(
            sim.run_until(Duration::from_secs(120), Sim::both_up),
            "seed {seed}"
        );
        sim.server.close(sim.now, Reason::AdminClose);
        // The server gives up after Max-Terminate requests; the client, if it never heard
        // them, notices through its own failures or keeps waiting: only the server is sure.
        assert!(sim.run_until(Duration::from_secs(30), |sim| {
            down_reason(&sim.server_events).is_some()
        }));
        assert_eq!(down_reason(&sim.server_events), Some(Reason::AdminClose));
    }
}

#[test]
fn silent_client_never_authenticates() {
    let mut sim = Sim::new(server_config(), client_config("correct horse"), 12, PERFECT);
    sim.open();
    // Let LCP open, then the client stops answering: CHAP is retransmitted, then the
    // authentication deadline closes the link.
    assert!(sim.run_until(Duration::from_secs(5), |sim| {
        sim.trace
            .iter()
            .any(|line| line.contains("Server sent [CHAP Challenge"))
    }));
    sim.silenced = Some(Side::Client);
    assert!(sim.run_until(Duration::from_secs(60), |sim| {
        down_reason(&sim.server_events).is_some()
    }));
    assert_eq!(down_reason(&sim.server_events), Some(Reason::AuthTimeout));
    let challenges: Vec<_> = sim
        .wire
        .iter()
        .filter(|(side, frame)| {
            *side == Side::Server && frame.starts_with(&[0xff, 3, 0xc2, 0x23, 1])
        })
        .collect();
    assert!(challenges.len() >= 9, "{}", challenges.len());
    // Each retransmission is the same packet, Identifier included, as pppd sends it.
    assert!(
        challenges
            .iter()
            .all(|(_, frame)| *frame == challenges[0].1)
    );
}
