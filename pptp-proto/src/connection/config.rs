//! Configuration of a control connection: what we announce in the Start-Control-Connection
//! and call messages (RFC 2637 §2.1, §2.2, §2.7, §2.8) and the timers of §3.1.4.

use core::time::Duration;

use crate::control::{BearerCapabilities, FramingCapabilities};

/// The timers of a control connection.
///
/// RFC 2637 §3.1.4 ("Keep Alives and Timers"): "If a control connection is not in the
/// established state [...] a control connection SHOULD be closed after 60 seconds by a peer
/// waiting for a Start-Control-Connection-Request or Start-Control-Connection-Reply message."
/// "If a peer's control connection is in the established state and has not received a control
/// message for 60 seconds, it SHOULD send a Echo-Request message. If an Echo-Reply is not
/// received 60 seconds after the Echo-Request message transmission, the control connection
/// SHOULD be closed."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long to wait for the Start-Control-Connection-Request (server) or -Reply (client).
    /// RFC 2637: 60 s (MS-PTPT §3.1.2 uses 30 s).
    pub establish: Duration,
    /// Silence from the peer after which we send an Echo-Request. RFC 2637: 60 s.
    pub keepalive: Duration,
    /// How long to wait for the Echo-Reply before closing. RFC 2637: 60 s.
    pub echo_reply: Duration,
    /// How long to wait for the Stop-Control-Connection-Reply after our request. The RFC gives
    /// no value (pptp-linux waits 60 s); 10 s keeps shutdown of the daemon quick.
    pub stop_reply: Duration,
    /// Client only: how long to wait for the Outgoing-Call-Reply or the
    /// Call-Disconnect-Notify (pptp-linux: 60 s).
    pub call_reply: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            establish: Duration::from_secs(60),
            keepalive: Duration::from_secs(60),
            echo_reply: Duration::from_secs(60),
            stop_reply: Duration::from_secs(10),
            call_reply: Duration::from_secs(60),
        }
    }
}

/// How the server (PAC) describes itself and answers calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Host Name sent in the Start-Control-Connection-Reply (up to 64 octets).
    pub host_name: Vec<u8>,
    /// Vendor String sent in the Start-Control-Connection-Reply (up to 64 octets).
    pub vendor: Vec<u8>,
    /// Framing Capabilities announced (default: asynchronous and synchronous).
    pub framing_capabilities: FramingCapabilities,
    /// Bearer Capabilities announced (default: analog and digital).
    pub bearer_capabilities: BearerCapabilities,
    /// Maximum Channels announced, and the number of simultaneous calls accepted on one
    /// control connection (default 1: stock clients place one call per connection, as poptop
    /// assumes).
    pub maximum_channels: u16,
    /// Firmware Revision announced.
    pub firmware_revision: u16,
    /// Packet Recv. Window Size sent in the Outgoing-Call-Reply: data packets we buffer per
    /// call (poptop echoes the client's; Windows ignores it, MS-PTPT §1.3).
    pub recv_window: u16,
    /// Packet Processing Delay sent in the Outgoing-Call-Reply, in 1/10 seconds.
    pub processing_delay: u16,
    /// Connect Speed sent in the Outgoing-Call-Reply; `None` echoes the request's Maximum BPS
    /// as poptop does.
    pub connect_speed: Option<u32>,
    /// Timers.
    pub timeouts: Timeouts,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host_name: b"pptpd-rs".to_vec(),
            vendor: b"pptpd-rs".to_vec(),
            framing_capabilities: FramingCapabilities::ASYNC_AND_SYNC,
            bearer_capabilities: BearerCapabilities::ANALOG_AND_DIGITAL,
            maximum_channels: 1,
            firmware_revision: 1,
            recv_window: 64,
            processing_delay: 0,
            connect_speed: None,
            timeouts: Timeouts::default(),
        }
    }
}

/// How the client (PNS) describes itself and places calls. The defaults are what pptp-linux
/// sends (fixture frames 9 and 20).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Host Name sent in the Start-Control-Connection-Request (pptp-linux: "local").
    pub host_name: Vec<u8>,
    /// Vendor String sent in the Start-Control-Connection-Request (pptp-linux: "cananian").
    pub vendor: Vec<u8>,
    /// Framing Capabilities announced (pptp-linux: 3).
    pub framing_capabilities: FramingCapabilities,
    /// Bearer Capabilities announced (pptp-linux: 3).
    pub bearer_capabilities: BearerCapabilities,
    /// Maximum Channels announced (pptp-linux: 65535).
    pub maximum_channels: u16,
    /// Firmware Revision announced (pptp-linux: 1).
    pub firmware_revision: u16,
    /// Minimum BPS requested (pptp-linux: 2400).
    pub minimum_bps: u32,
    /// Maximum BPS requested (pptp-linux: 10 000 000).
    pub maximum_bps: u32,
    /// Packet Recv. Window Size sent in the Outgoing-Call-Request (fixture: 3).
    pub recv_window: u16,
    /// Timers.
    pub timeouts: Timeouts,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            host_name: b"local".to_vec(),
            vendor: b"cananian".to_vec(),
            framing_capabilities: FramingCapabilities::ASYNC_AND_SYNC,
            bearer_capabilities: BearerCapabilities::ANALOG_AND_DIGITAL,
            maximum_channels: 65535,
            firmware_revision: 1,
            minimum_bps: 2400,
            maximum_bps: 10_000_000,
            recv_window: 3,
            timeouts: Timeouts::default(),
        }
    }
}
