//! The client (PNS) side of a control connection, RFC 2637 §3.1 and §3.2.4.2: the
//! Start-Control-Connection-Reply, Outgoing-Call-Replies and Call-Disconnect-Notifies, as
//! pptp-linux handles them.

use rand_core::RngCore;

use super::{
    Call, CallClearReason, CallState, ConnectionState, ControlConnection, ControlEvent, PeerInfo,
    Reason, Violation,
};
use crate::call_id::CallId;
use crate::control::{
    CallDisconnectNotify, ControlMessage, GeneralErrorCode, IncomingCallReply, IncomingCallRequest,
    IncomingCallResult, MessageType, OutgoingCallReply, OutgoingCallResult, ProtocolVersion,
    StartControlConnectionReply, StartControlResult, StopControlConnectionRequest,
    StopControlReason,
};

impl<R: RngCore> ControlConnection<R> {
    pub(super) fn client_message(&mut self, message: ControlMessage) {
        let message_type = message.message_type();
        match (self.state, message) {
            (ConnectionState::WaitStartReply, ControlMessage::StartControlConnectionReply(r)) => {
                self.on_start_reply(r);
            }
            (ConnectionState::Established, ControlMessage::OutgoingCallReply(reply)) => {
                self.on_call_reply(reply);
            }
            (ConnectionState::Established, ControlMessage::CallDisconnectNotify(notify)) => {
                self.on_call_disconnect(notify);
            }
            (ConnectionState::Established, ControlMessage::IncomingCallRequest(request)) => {
                self.refuse_incoming_call(request);
            }
            (ConnectionState::Established, ControlMessage::WanErrorNotify(_)) => {}
            (ConnectionState::WaitStopReply, _) => {}
            _ => self.violation(message_type, Violation::UnexpectedMessage),
        }
    }

    /// Start-Control-Connection-Reply while waiting for it.
    fn on_start_reply(&mut self, reply: StartControlConnectionReply) {
        // pptp-linux also takes result 0 as success ("feature found in certain ADSL modems").
        if !matches!(
            reply.result,
            StartControlResult::Success | StartControlResult::Unknown(0)
        ) {
            self.close(Reason::StartRefused {
                result: reply.result,
                error: reply.error,
            });
            return;
        }
        if reply.protocol_version != ProtocolVersion::V1_0 {
            self.send(StopControlConnectionRequest {
                reason: StopControlReason::StopProtocol,
            });
            self.close(Reason::UnsupportedVersion(reply.protocol_version));
            return;
        }
        self.establish(PeerInfo {
            protocol_version: reply.protocol_version,
            framing_capabilities: reply.framing_capabilities,
            bearer_capabilities: reply.bearer_capabilities,
            maximum_channels: reply.maximum_channels,
            firmware_revision: reply.firmware_revision,
            host_name: reply.host_name,
            vendor: reply.vendor,
        });
    }

    /// Outgoing-Call-Reply: its Peer's Call ID is our Call ID.
    fn on_call_reply(&mut self, reply: OutgoingCallReply) {
        let ours = reply.peer_call_id;
        let Some(call) = self
            .calls
            .by_ours(ours)
            .filter(|call| call.state == CallState::WaitReply)
        else {
            self.violation(MessageType::OutgoingCallReply, Violation::UnknownCall(ours));
            return;
        };
        if reply.result == OutgoingCallResult::Connected {
            call.state = CallState::Established;
            call.peers = Some(reply.call_id);
            call.deadline = None;
            self.events.push_back(ControlEvent::CallEstablished {
                call_id: ours,
                peer_call_id: reply.call_id,
                connect_speed: reply.connect_speed,
                recv_window: reply.recv_window,
            });
        } else {
            self.calls.remove_ours(ours);
            self.events.push_back(ControlEvent::CallRefused {
                call_id: ours,
                result: reply.result,
                error: reply.error,
            });
        }
    }

    /// Call-Disconnect-Notify: its Call ID is the server's; pptp-linux looks it up among its
    /// own Call IDs, so that is tried second.
    fn on_call_disconnect(&mut self, notify: CallDisconnectNotify) {
        let call = self
            .calls
            .remove_peers(notify.call_id)
            .or_else(|| self.calls.remove_ours(notify.call_id));
        let Some(Call {
            ours: Some(call_id),
            peers,
            ..
        }) = call
        else {
            self.violation(
                MessageType::CallDisconnectNotify,
                Violation::UnknownCall(notify.call_id),
            );
            return;
        };
        self.events.push_back(ControlEvent::CallCleared {
            call_id,
            peer_call_id: peers,
            reason: CallClearReason::PeerDisconnect {
                result: notify.result,
                error: notify.error,
                cause: notify.cause,
            },
        });
    }

    /// Incoming-Call-Request: a VPN client takes no incoming calls ("3 (Do Not Accept)").
    fn refuse_incoming_call(&mut self, request: IncomingCallRequest) {
        self.send(IncomingCallReply {
            call_id: CallId(0),
            peer_call_id: request.call_id,
            result: IncomingCallResult::DoNotAccept,
            error: GeneralErrorCode::None,
            recv_window: 0,
            transmit_delay: 0,
        });
    }
}
