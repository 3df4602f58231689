//! The server (PAC) side of a control connection, RFC 2637 §3.1 and §3.2.4.1: answering the
//! Start-Control-Connection-Request, Outgoing-Call-Requests, Call-Clear-Requests and
//! Set-Link-Info.

use rand_core::RngCore;

use super::{
    Call, CallClearReason, CallState, ConnectionState, ControlConnection, ControlEvent, PeerInfo,
    Reason, Role, Violation, call_disconnect, call_refusal,
};
use crate::call_id::CallId;
use crate::control::{
    CallClearRequest, CallDisconnectResult, ControlMessage, GeneralErrorCode, MessageType,
    OutgoingCallRequest, OutgoingCallResult, ProtocolVersion, SetLinkInfo,
    StartControlConnectionReply, StartControlConnectionRequest, StartControlResult,
};

impl<R: RngCore> ControlConnection<R> {
    pub(super) fn server_message(&mut self, message: ControlMessage) {
        let message_type = message.message_type();
        match (self.state, message) {
            (ConnectionState::Idle, ControlMessage::StartControlConnectionRequest(request)) => {
                self.accept_start(request)
            }
            (ConnectionState::Established, ControlMessage::StartControlConnectionRequest(_)) => {
                // "3 (Command channel already exists)"
                self.send_start_reply(StartControlResult::ChannelExists);
                self.violation(message_type, Violation::UnexpectedMessage);
            }
            (ConnectionState::Idle, ControlMessage::OutgoingCallRequest(request)) => {
                // "1 (Not-Connected) - No control connection exists yet for this PAC-PNS pair"
                self.send(call_refusal(
                    request.call_id,
                    OutgoingCallResult::GeneralError,
                    GeneralErrorCode::NotConnected,
                ));
                self.violation(message_type, Violation::UnexpectedMessage);
            }
            (ConnectionState::Established, ControlMessage::OutgoingCallRequest(request)) => {
                self.on_call_request(request);
            }
            (ConnectionState::Established, ControlMessage::CallClearRequest(request)) => {
                self.on_call_clear_request(request);
            }
            (ConnectionState::Established, ControlMessage::SetLinkInfo(info)) => {
                self.on_set_link_info(info);
            }
            // Whatever was in flight while we stop is moot.
            (ConnectionState::WaitStopReply, _) => {}
            _ => self.violation(message_type, Violation::UnexpectedMessage),
        }
    }

    /// Start-Control-Connection-Request in Idle: establish, or refuse a version other than 1.0.
    fn accept_start(&mut self, request: StartControlConnectionRequest) {
        if request.protocol_version != ProtocolVersion::V1_0 {
            // "5 (The protocol version of the requester is not supported)"
            self.send_start_reply(StartControlResult::VersionNotSupported);
            self.close(Reason::UnsupportedVersion(request.protocol_version));
            return;
        }
        self.send_start_reply(StartControlResult::Success);
        self.establish(PeerInfo {
            protocol_version: request.protocol_version,
            framing_capabilities: request.framing_capabilities,
            bearer_capabilities: request.bearer_capabilities,
            maximum_channels: request.maximum_channels,
            firmware_revision: request.firmware_revision,
            host_name: request.host_name,
            vendor: request.vendor,
        });
    }

    /// Our Start-Control-Connection-Reply with `result` (server role only).
    fn start_reply(&self, result: StartControlResult) -> Option<StartControlConnectionReply> {
        let Role::Server(config) = &self.role else {
            return None;
        };
        Some(StartControlConnectionReply {
            protocol_version: ProtocolVersion::V1_0,
            result,
            error: GeneralErrorCode::None,
            framing_capabilities: config.framing_capabilities,
            bearer_capabilities: config.bearer_capabilities,
            maximum_channels: config.maximum_channels,
            firmware_revision: config.firmware_revision,
            host_name: config.host_name.clone(),
            vendor: config.vendor.clone(),
        })
    }

    /// Queues our Start-Control-Connection-Reply with `result`.
    fn send_start_reply(&mut self, result: StartControlResult) {
        if let Some(reply) = self.start_reply(result) {
            self.send(reply);
        }
    }

    /// Outgoing-Call-Request when established: ask the owner, unless the Call ID is taken or
    /// the call would exceed our Maximum Channels.
    fn on_call_request(&mut self, request: OutgoingCallRequest) {
        let Role::Server(config) = &self.role else {
            return;
        };
        let maximum_channels = usize::from(config.maximum_channels);
        let connect_speed = config.connect_speed.unwrap_or(request.maximum_bps);
        let message_type = MessageType::OutgoingCallRequest;
        if self.calls.by_peers(request.call_id).is_some() {
            self.send(call_refusal(
                request.call_id,
                OutgoingCallResult::GeneralError,
                GeneralErrorCode::BadCallId,
            ));
            self.violation(message_type, Violation::CallIdInUse(request.call_id));
            return;
        }
        if self.calls.len() >= maximum_channels {
            self.send(call_refusal(
                request.call_id,
                OutgoingCallResult::GeneralError,
                GeneralErrorCode::NoResource,
            ));
            self.violation(message_type, Violation::TooManyCalls);
            return;
        }
        self.calls.insert(Call {
            ours: None,
            peers: Some(request.call_id),
            state: CallState::PendingAnswer,
            connect_speed,
            deadline: None,
        });
        self.events.push_back(ControlEvent::CallRequested {
            peer_call_id: request.call_id,
            call_serial: request.call_serial,
            recv_window: request.recv_window,
            processing_delay: request.processing_delay,
            minimum_bps: request.minimum_bps,
            maximum_bps: request.maximum_bps,
            bearer_type: request.bearer_type,
            framing_type: request.framing_type,
            phone_number: request.phone_number,
        });
    }

    /// Call-Clear-Request: "the PAC [...] sends a Call-Disconnect-Notify" with result
    /// "4 (Request) - Call disconnected due to receipt of a Call-Clear-Request".
    fn on_call_clear_request(&mut self, request: CallClearRequest) {
        let Some(call) = self.calls.remove_peers(request.call_id) else {
            // No such call: answer as npppd does, with "5 (Bad-Call ID)".
            self.send(call_disconnect(
                CallId(0),
                CallDisconnectResult::GeneralError,
                GeneralErrorCode::BadCallId,
            ));
            self.violation(
                MessageType::CallClearRequest,
                Violation::UnknownCall(request.call_id),
            );
            return;
        };
        let ours = call.ours.unwrap_or(CallId(0));
        self.send(call_disconnect(
            ours,
            CallDisconnectResult::Request,
            GeneralErrorCode::None,
        ));
        self.events.push_back(match call.ours {
            Some(call_id) => ControlEvent::CallCleared {
                call_id,
                peer_call_id: Some(request.call_id),
                reason: CallClearReason::PeerRequest,
            },
            None => ControlEvent::CallWithdrawn {
                peer_call_id: request.call_id,
            },
        });
    }

    /// Set-Link-Info names our Call ID; report the ACCMs.
    fn on_set_link_info(&mut self, info: SetLinkInfo) {
        if self.calls.by_ours(info.peer_call_id).is_some() {
            self.events.push_back(ControlEvent::SetLinkInfo {
                call_id: info.peer_call_id,
                send_accm: info.send_accm,
                recv_accm: info.recv_accm,
            });
        } else {
            self.violation(
                MessageType::SetLinkInfo,
                Violation::UnknownCall(info.peer_call_id),
            );
        }
    }
}
