//! Errors of the MPPE cipher (RFC 3078 §3, §8): why a received packet was not decrypted.
//!
//! MS-CHAPv2 and the key derivations are total functions and have no error type: a wrong
//! password is a `false` from a verifier, not an error.

/// Why [`MppeDecryptor::decrypt`](crate::MppeDecryptor::decrypt) refused a packet.
///
/// A refused packet is dropped; only [`MppeError::ResyncNeeded`] asks the caller to act (send a
/// CCP Reset-Request). No variant other than `ResyncNeeded` changes the decryptor's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum MppeError {
    /// The packet is shorter than the 2-byte MPPE header plus one byte of ciphertext.
    #[error("MPPE packet truncated: shorter than the 2-byte header plus 1 byte of data")]
    Truncated,
    /// The D (encrypted) bit is clear.
    #[error("MPPE packet has the D (encrypted) bit clear")]
    NotEncrypted,
    /// The C bit is set: the payload is MPPC-compressed, which is not supported.
    #[error("MPPE packet has the C bit set (MPPC compression is not supported)")]
    Compressed,
    /// The A (flushed) bit is clear where RFC 3078 requires it: on every packet in stateless
    /// mode, and on every "flag" packet (coherency count low octet 0xFF) in stateful mode.
    #[error("MPPE packet lacks the A (flushed) bit that RFC 3078 requires here")]
    FlushedBitMissing,
    /// Stateless mode: the packet's coherency count lies behind the expected one (a late,
    /// reordered or duplicated packet). It is discarded, as Linux `ppp_mppe` does.
    #[error("late MPPE packet discarded (coherency count {count})")]
    Late {
        /// The packet's 12-bit coherency count.
        count: u16,
    },
    /// Stateful mode: packets were lost, so the RC4 state is out of step. The caller sends a CCP
    /// Reset-Request; packets are discarded until one with the A (flushed) bit arrives.
    #[error("MPPE packets lost in stateful mode: a CCP Reset-Request is needed")]
    ResyncNeeded,
}
