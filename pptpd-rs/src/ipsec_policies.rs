//! Whether the host has IPsec output policies (`ip xfrm policy`): with one, frames written
//! by hand (`gre-direct`) would skip the kernel's transforms, and a client meant to be
//! reached through IPsec would get our GRE in the clear. Asked over NETLINK_XFRM
//! (linux/xfrm.h): the policy database counts (`XFRM_MSG_GETSPDINFO`, as
//! `ip xfrm policy count` asks) and the policy notifications (group `XFRMNLGRP_POLICY`, as
//! `ip xfrm monitor policy` listens).
//!
//! [`IpsecPolicies`] answers each next-hop lookup from what the watch
//! ([`crate::link_watch`]) last learnt, so that thousands of sessions' lookups do not each
//! open a socket: "none" is remembered only while notifications are being read, and anything
//! else — a policy added, notifications lost, no watch at all — means asking the kernel again
//! at every lookup, as if nothing were known.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rtnetlink::packet_core::NLM_F_REQUEST;
use rtnetlink::sys::protocols::NETLINK_XFRM;
use rtnetlink::sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};

/// `XFRM_MSG_GETSPDINFO` and its answer `XFRM_MSG_NEWSPDINFO`.
const XFRM_MSG_GETSPDINFO: u16 = 0x25;
const XFRM_MSG_NEWSPDINFO: u16 = 0x24;
/// The attribute with the policy counts (`struct xfrmu_spdinfo`).
const XFRMA_SPD_INFO: u16 = 1;
/// The multicast group of policy notifications (`XFRMNLGRP_POLICY`).
const XFRMNLGRP_POLICY: u32 = 4;
/// Messages that add or change a policy (`XFRM_MSG_NEWPOLICY`, `XFRM_MSG_UPDPOLICY`).
const POLICY_ADDED: [u16; 2] = [0x13, 0x19];
/// Messages that remove policies (`XFRM_MSG_DELPOLICY`, `XFRM_MSG_FLUSHPOLICY`).
const POLICY_REMOVED: [u16; 2] = [0x14, 0x1d];
/// How long the kernel gets to answer a count request.
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// What the lookups may assume about IPsec output policies; cheap to clone (one shared flag).
#[derive(Clone, Debug, Default)]
pub struct IpsecPolicies {
    /// Set only by the watch, after the kernel counted none and while it reads every
    /// notification since: no lookup needs to ask.
    none_while_watched: Arc<AtomicBool>,
}

impl IpsecPolicies {
    /// Whether no IPsec output policy applies, so frames may be written by hand: from the
    /// watch if it knows, else asked of the kernel (a failed ask counts as "there may be").
    pub async fn none(&self) -> bool {
        self.known_none() || output_policy_count().await == Some(0)
    }

    /// Whether the watch knows that none applies (the lookups do not ask).
    pub fn known_none(&self) -> bool {
        self.none_while_watched.load(Ordering::Acquire)
    }

    /// The watch counted the policies (`None`: it could not): "none" is remembered only for
    /// a count of zero.
    pub(crate) fn counted(&self, count: Option<u32>) {
        self.none_while_watched
            .store(count == Some(0), Ordering::Release);
    }

    /// A policy may have been added, or the watch ended: every lookup asks again.
    pub(crate) fn forget(&self) {
        self.none_while_watched.store(false, Ordering::Release);
    }
}

/// How many IPsec policies apply to output (plain and per-socket), from the kernel's policy
/// database counts; `Some(0)` on a kernel without XFRM support. `None` when the kernel could
/// not be asked or did not answer in time.
pub async fn output_policy_count() -> Option<u32> {
    let mut socket = match TokioSocket::new(NETLINK_XFRM) {
        Ok(socket) => socket,
        // No XFRM in this kernel: nothing can transform our datagrams.
        Err(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => return Some(0),
        Err(_) => return None,
    };
    socket.socket_mut().bind_auto().ok()?;
    socket
        .send_to(&count_request(), &SocketAddr::new(0, 0))
        .await
        .ok()?;
    let (reply, _) = tokio::time::timeout(ANSWER_WAIT, socket.recv_from_full())
        .await
        .ok()?
        .ok()?;
    spd_output_count(&reply)
}

/// The request: nlmsghdr (16 bytes) + a u32 of flags, as `ip xfrm policy count` sends it.
fn count_request() -> [u8; 20] {
    let mut request = [0u8; 20];
    request[0..4].copy_from_slice(&20u32.to_ne_bytes());
    request[4..6].copy_from_slice(&XFRM_MSG_GETSPDINFO.to_ne_bytes());
    request[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes());
    request
}

/// Reads the output policy counts from an `XFRM_MSG_NEWSPDINFO` answer.
fn spd_output_count(reply: &[u8]) -> Option<u32> {
    let u16_at = |at: usize| Some(u16::from_ne_bytes(reply.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_ne_bytes(reply.get(at..at + 4)?.try_into().ok()?));
    let total = usize::try_from(u32_at(0)?).ok()?.min(reply.len());
    if u16_at(4)? != XFRM_MSG_NEWSPDINFO {
        return None;
    }
    // Attributes follow the header (16) and the flags (4), each 4-byte aligned.
    let mut at = 20;
    while at + 4 <= total {
        let len = usize::from(u16_at(at)?);
        if len < 4 {
            return None;
        }
        if u16_at(at + 2)? & 0x3fff == XFRMA_SPD_INFO {
            // incnt, outcnt, fwdcnt, inscnt, outscnt, fwdscnt
            if at + len > total {
                return None;
            }
            return Some(u32_at(at + 8)?.saturating_add(u32_at(at + 20)?));
        }
        at += (len + 3) & !3;
    }
    None
}

/// What a datagram of policy notifications announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyNews {
    /// A policy was added or changed (whatever else the datagram holds).
    Added,
    /// Policies were deleted or flushed, none added.
    Removed,
    /// Nothing about policies.
    Nothing,
}

/// Reads each netlink message header of a notification datagram in turn (length, type),
/// trusting no length beyond the datagram.
pub fn policy_news(datagram: &[u8]) -> PolicyNews {
    let mut news = PolicyNews::Nothing;
    let mut at = 0;
    while let Some(header) = datagram.get(at..at + 16) {
        let len = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        if POLICY_ADDED.contains(&kind) {
            return PolicyNews::Added;
        }
        if POLICY_REMOVED.contains(&kind) {
            news = PolicyNews::Removed;
        }
        if len < 16 {
            break;
        }
        let Some(step) = len.checked_next_multiple_of(4) else {
            break;
        };
        at = at.saturating_add(step);
    }
    news
}

/// A socket subscribed to the policy notifications, its receive buffer `buffer` bytes;
/// `None` on a kernel without XFRM.
pub fn policy_socket(buffer: usize) -> std::io::Result<Option<TokioSocket>> {
    let mut socket = match TokioSocket::new(NETLINK_XFRM) {
        Ok(socket) => socket,
        Err(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => return Ok(None),
        Err(e) => return Err(e),
    };
    crate::link_watch::set_receive_buffer(socket.socket_mut(), buffer);
    socket
        .socket_mut()
        .bind(&SocketAddr::new(0, 1 << (XFRMNLGRP_POLICY - 1)))?;
    Ok(Some(socket))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::frame_socket::test_devices::{in_private_namespace, run, runtime};

    /// An `XFRM_MSG_NEWSPDINFO` answer as the kernel builds it, with `out` output
    /// policies and `out_socket` per-socket ones.
    fn spd_reply(out: u32, out_socket: u32) -> Vec<u8> {
        let mut r = Vec::new();
        let info: Vec<u32> = vec![3, out, 0, 0, out_socket, 0];
        let attr_len = 4 + 4 * info.len();
        // A first attribute (hash info, type 2) the reader must step over.
        let total = 16 + 4 + 12 + attr_len;
        r.extend((total as u32).to_ne_bytes());
        r.extend(XFRM_MSG_NEWSPDINFO.to_ne_bytes());
        r.extend([0u8; 10]);
        r.extend(0u32.to_ne_bytes());
        r.extend(12u16.to_ne_bytes());
        r.extend(2u16.to_ne_bytes());
        r.extend([0u8; 8]);
        r.extend((attr_len as u16).to_ne_bytes());
        r.extend(XFRMA_SPD_INFO.to_ne_bytes());
        for v in info {
            r.extend(v.to_ne_bytes());
        }
        r
    }

    #[test]
    fn output_policy_counts_are_read_from_the_answer() {
        assert_eq!(spd_output_count(&spd_reply(0, 0)), Some(0));
        assert_eq!(spd_output_count(&spd_reply(2, 1)), Some(3));
        // Truncated, wrong type, or a zero-length attribute: no answer, never a panic.
        let whole = spd_reply(1, 0);
        for cut in 0..whole.len() {
            assert_eq!(spd_output_count(&whole[..cut]), None, "cut at {cut}");
        }
        let mut wrong = whole.clone();
        wrong[4] = 0x10;
        assert_eq!(spd_output_count(&wrong), None);
        let mut zero = whole;
        zero[20..22].copy_from_slice(&0u16.to_ne_bytes());
        assert_eq!(spd_output_count(&zero), None);
    }

    /// A notification header (length, type, flags, sequence, port) claiming `len` bytes, and
    /// a body up to that length (at most 256 bytes: a lying length stays a lie).
    fn message(kind: u16, len: u32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.resize(len.clamp(16, 256) as usize, 0);
        m
    }

    #[test]
    fn added_removed_and_other_notifications_are_told_apart() {
        assert_eq!(policy_news(&message(0x13, 184)), PolicyNews::Added);
        assert_eq!(policy_news(&message(0x19, 184)), PolicyNews::Added);
        assert_eq!(policy_news(&message(0x14, 40)), PolicyNews::Removed);
        assert_eq!(policy_news(&message(0x1d, 20)), PolicyNews::Removed);
        // An SA message, an expiry: nothing about the policy database.
        assert_eq!(policy_news(&message(0x10, 40)), PolicyNews::Nothing);
        assert_eq!(policy_news(&message(0x1b, 40)), PolicyNews::Nothing);
        // The second message of a datagram counts too (lengths are rounded up to 4), and an
        // addition outweighs a removal.
        let mut two = message(0x14, 42);
        two.resize(44, 0);
        two.extend(message(0x13, 16));
        assert_eq!(policy_news(&two), PolicyNews::Added);
        two.truncate(44);
        two.extend(message(0x10, 16));
        assert_eq!(policy_news(&two), PolicyNews::Removed);
        // Truncated or lying headers end the walk without a panic.
        assert_eq!(policy_news(&[]), PolicyNews::Nothing);
        assert_eq!(policy_news(&message(0x13, 184)[..15]), PolicyNews::Nothing);
        let mut zero = message(0x10, 0);
        zero.extend(message(0x13, 16));
        assert_eq!(policy_news(&zero), PolicyNews::Nothing);
        let mut huge = message(0x10, u32::MAX);
        huge.extend(message(0x13, 16));
        assert_eq!(policy_news(&huge), PolicyNews::Nothing);
    }

    proptest::proptest! {
        /// Whatever the kernel (or anyone able to send on the socket) hands over.
        #[test]
        fn any_notification_datagram_is_read_without_a_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)
        ) {
            let _ = policy_news(&bytes);
        }
    }

    #[test]
    fn only_a_watched_count_of_zero_spares_the_lookups_their_question() {
        let policies = IpsecPolicies::default();
        let spared = || policies.known_none();
        assert!(!spared(), "nothing known before the watch counts");
        policies.counted(Some(0));
        assert!(spared());
        policies.forget();
        assert!(!spared(), "a policy added");
        policies.counted(Some(0));
        policies.counted(Some(2));
        assert!(!spared(), "two policies");
        policies.counted(Some(0));
        policies.counted(None);
        assert!(!spared(), "the count could not be asked");
    }

    /// In a private namespace: the kernel's count before and after a policy is added, and
    /// what the lookups conclude from it with and without the watch's knowledge.
    #[test]
    fn the_kernel_counts_output_policies() {
        in_private_namespace(|| {
            runtime().block_on(async {
                let policies = IpsecPolicies::default();
                assert_eq!(output_policy_count().await, Some(0));
                assert!(policies.none().await);
                run(
                    "ip xfrm policy add src 10.77.0.1/32 dst 10.77.0.2/32 dir out \
                     tmpl proto esp mode transport",
                );
                assert_eq!(output_policy_count().await, Some(1));
                assert!(!policies.none().await, "asked, since nothing is remembered");
                policies.counted(Some(0));
                assert!(policies.none().await, "what the watch knows is believed");
            });
        });
    }
}
