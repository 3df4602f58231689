//! Harnesses for the PPTP control channel (RFC 2637 §2, §3): the message decoder and stream
//! framing, and the server (PAC) role of the control-connection machine fed a peer's TCP
//! byte stream.

use pptp_proto::connection::{ConnectionState, ControlEvent, ServerConfig};
use pptp_proto::control::{
    CallDisconnectResult, HEADER_LEN, MAX_MESSAGE_LEN, OutgoingCallResult, StopControlReason,
    frame_len,
};
use pptp_proto::{CallId, ControlConnection, ControlMessage};

use crate::clock::Clock;
use crate::input::Input;

/// `control_message`: [`frame_len`] and [`ControlMessage::decode`] on one buffer. Every
/// decoded message must re-encode to `encoded_len` octets that decode to the same message, and
/// a buffer that decodes must frame as exactly itself.
pub fn control_message(data: &[u8]) {
    let framed = frame_len(data);
    if let Ok(Some(len)) = framed {
        assert!(
            (HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len),
            "frame_len accepted a Length of {len}"
        );
    }
    let Ok(message) = ControlMessage::decode(data) else {
        return;
    };
    assert_eq!(
        framed,
        Ok(Some(data.len())),
        "a decodable message frames as itself"
    );
    check_round_trip(&message);
}

/// Encodes `message` and decodes it back; both must agree.
fn check_round_trip(message: &ControlMessage) {
    let bytes = message.to_bytes();
    assert_eq!(
        bytes.len(),
        message.encoded_len(),
        "encoded_len of {message:?}"
    );
    assert_eq!(
        frame_len(&bytes),
        Ok(Some(bytes.len())),
        "the encoding of {message:?} frames as itself"
    );
    match ControlMessage::decode(&bytes) {
        Ok(decoded) => assert_eq!(&decoded, message, "round trip"),
        Err(error) => panic!("our own encoding of {message:?} does not decode: {error}"),
    }
}

/// Operation codes of the `control_connection` script (the operation byte modulo 8).
pub mod op {
    /// A chunk of the peer's TCP byte stream.
    pub const STREAM: u8 = 0;
    /// Time passes (argument: seconds, 0 = to the next deadline), then `handle_timeout`.
    pub const TIME: u8 = 1;
    /// The owner answers a pending call (arguments: which, our Call ID as u16).
    pub const ANSWER: u8 = 2;
    /// The owner refuses a pending call (arguments: which, result code).
    pub const REFUSE: u8 = 3;
    /// The owner clears an answered call (arguments: which, result code).
    pub const CLEAR: u8 = 4;
    /// The owner stops the connection (argument: reason code).
    pub const STOP: u8 = 5;
    /// The TCP connection went away.
    pub const TRANSPORT_CLOSED: u8 = 6;
}

/// What the harness, as the connection's owner, knows.
#[derive(Debug, Default)]
struct Owner {
    /// Bytes received but not yet framed.
    buffer: Vec<u8>,
    /// The stream could not be framed: the daemon would have stopped reading.
    desynchronised: bool,
    /// Peer Call IDs of requested calls not yet answered.
    pending: Vec<CallId>,
    /// Our Call IDs of answered calls.
    answered: Vec<CallId>,
    /// `Connected` was reported.
    connected: bool,
    /// `Closed` was reported (and drained).
    closed: bool,
}

/// `control_connection`: a server-role [`ControlConnection`] driven by a script.
///
/// The first octet sets Maximum Channels (1 to 4). Operations: see [`op`]. Stream chunks are
/// framed with [`frame_len`] as the daemon does (messages may span chunks). Invariants: the
/// machine never panics; every transmitted message round-trips through the codec; at most one
/// `Connected` and one `Closed`; never more calls than Maximum Channels; after `Closed` nothing
/// is transmitted or reported, the state stays Closed and no timer is armed; after
/// `handle_timeout(now)` the next deadline is in the future.
pub fn control_connection(data: &[u8]) {
    let mut input = Input::new(data);
    let maximum_channels = u16::from(input.byte().unwrap_or(0) % 4) + 1;
    let config = ServerConfig {
        maximum_channels,
        ..ServerConfig::default()
    };
    let mut clock = Clock::new();
    let mut connection = ControlConnection::server(config, clock.now());
    let mut owner = Owner::default();

    while let Some(code) = input.byte() {
        let now = clock.now();
        match code % 8 {
            op::TIME => {
                let arg = input.byte().unwrap_or(0);
                let now = clock.advance(arg, connection.poll_timeout());
                connection.handle_timeout(now);
                if let Some(next) = connection.poll_timeout() {
                    assert!(
                        next > now,
                        "handle_timeout left a deadline at or before now"
                    );
                }
            }
            op::ANSWER => {
                let which = usize::from(input.byte().unwrap_or(0));
                let ours = CallId(input.u16().unwrap_or(1));
                if let Some(&peer) = pick(&owner.pending, which)
                    && connection.answer_call(now, peer, ours).is_ok()
                {
                    owner.pending.retain(|id| *id != peer);
                    assert!(
                        !owner.answered.contains(&ours),
                        "Call ID {ours:?} given twice"
                    );
                    owner.answered.push(ours);
                }
            }
            op::REFUSE => {
                let which = usize::from(input.byte().unwrap_or(0));
                let result = OutgoingCallResult::from(input.byte().unwrap_or(0));
                if let Some(&peer) = pick(&owner.pending, which)
                    && connection.refuse_call(now, peer, result).is_ok()
                {
                    owner.pending.retain(|id| *id != peer);
                }
            }
            op::CLEAR => {
                let which = usize::from(input.byte().unwrap_or(0));
                let result = CallDisconnectResult::from(input.byte().unwrap_or(0));
                if let Some(&ours) = pick(&owner.answered, which) {
                    // The event (CallCleared) removes it from `answered`.
                    let _ = connection.clear_call(now, ours, result);
                }
            }
            op::STOP => {
                let reason = StopControlReason::from(input.byte().unwrap_or(0));
                connection.stop(now, reason);
            }
            op::TRANSPORT_CLOSED => connection.handle_transport_closed(now),
            _ => {
                let Some(chunk) = input.chunk() else { break };
                feed_stream(&mut connection, &mut owner, now, chunk);
            }
        }
        drain(&mut connection, &mut owner, maximum_channels);
    }
}

/// The `which`-th element, cyclically.
fn pick<T>(items: &[T], which: usize) -> Option<&T> {
    items.get(which.checked_rem(items.len())?)
}

/// Appends `chunk` to the owner's buffer and hands every complete message to the machine, as
/// the daemon's reader does.
fn feed_stream(
    connection: &mut ControlConnection,
    owner: &mut Owner,
    now: std::time::Instant,
    chunk: &[u8],
) {
    if owner.desynchronised {
        return;
    }
    owner.buffer.extend_from_slice(chunk);
    loop {
        match frame_len(&owner.buffer) {
            Err(error) => {
                connection.handle_stream_error(now, error);
                owner.desynchronised = true;
                owner.buffer.clear();
                return;
            }
            Ok(Some(len)) if owner.buffer.len() >= len => {
                let message: Vec<u8> = owner.buffer.drain(..len).collect();
                // A message with a bad field is the machine's business; errors are expected.
                let _ = connection.handle_bytes(now, &message);
            }
            Ok(_) => return,
        }
    }
}

/// Drains transmissions and events and checks the invariants.
fn drain(connection: &mut ControlConnection, owner: &mut Owner, maximum_channels: u16) {
    let was_closed = owner.closed;
    while let Some(message) = connection.poll_transmit() {
        assert!(!was_closed, "transmitted {message:?} after Closed");
        check_round_trip(&message);
    }
    while let Some(event) = connection.poll_event() {
        assert!(!was_closed, "reported {event:?} after Closed");
        match event {
            ControlEvent::Connected { .. } => {
                assert!(!owner.connected, "Connected twice");
                owner.connected = true;
            }
            ControlEvent::CallRequested { peer_call_id, .. } => {
                assert!(
                    !owner.pending.contains(&peer_call_id),
                    "CallRequested twice for {peer_call_id:?}"
                );
                owner.pending.push(peer_call_id);
            }
            ControlEvent::CallWithdrawn { peer_call_id } => {
                owner.pending.retain(|id| *id != peer_call_id);
            }
            ControlEvent::CallCleared { call_id, .. } => {
                assert!(
                    owner.answered.contains(&call_id),
                    "CallCleared for {call_id:?}, which the owner never answered"
                );
                owner.answered.retain(|id| *id != call_id);
            }
            ControlEvent::Closed(_) => {
                assert!(!owner.closed, "Closed twice");
                owner.closed = true;
            }
            _ => {}
        }
    }
    assert!(
        connection.call_count() <= usize::from(maximum_channels),
        "{} calls with Maximum Channels {maximum_channels}",
        connection.call_count()
    );
    if owner.closed {
        assert_eq!(connection.state(), ConnectionState::Closed);
        assert_eq!(
            connection.poll_timeout(),
            None,
            "a timer is armed after Closed"
        );
        assert_eq!(connection.call_count(), 0, "calls survive Closed");
    }
}
