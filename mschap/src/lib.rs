//! MS-CHAPv2 authentication (RFC 2759), MPPE key derivation (RFC 3079 §3) and the MPPE cipher
//! (RFC 3078), built on the RustCrypto `md4`, `des`, `sha1` and `rc4` crates.
//!
//! - [`chap_v2`]: NT password hash, NT-Response, Authenticator Response, Success/Failure texts.
//! - [`mppe_keys`]: master key and asymmetric start keys from the MS-CHAPv2 exchange.
//! - [`mppe`]: [`MppeEncryptor`] / [`MppeDecryptor`], one per direction, in place and
//!   allocation-free, stateless or stateful, 40/56/128-bit.
//! - [`error`]: [`MppeError`], why a received MPPE packet was dropped.
//!
//! Every item is also re-exported at the crate root.

#![deny(unsafe_code)]

pub mod chap_v2;
pub mod error;
pub mod mppe;
pub mod mppe_keys;

pub use chap_v2::{
    authenticator_response, challenge_hash, failure_message, generate_nt_response,
    hash_nt_password_hash, nt_password_hash, parse_success_message, success_message,
    verify_authenticator_response, verify_nt_response,
};
pub use error::MppeError;
pub use mppe::{
    MPPE_HEADER_LEN, MppeConfig, MppeDecryptor, MppeEncryptor, MppeHeader, RECENT_KEYS,
};
pub use mppe_keys::{
    KeyRole, MppeStartKeys, MppeStrength, asymmetric_start_key, initial_session_key, master_key,
    start_keys,
};
