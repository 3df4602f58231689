//! Sans-IO PPP for a PPTP gateway: the frame codec (RFC 1661 §2, RFC 1662 §3), the RFC 1661
//! option negotiation automaton shared by LCP, IPCP and CCP, the LCP options and keepalive,
//! the MS-CHAPv2 authenticator (RFC 1994, RFC 2759), CCP/MPPE negotiation (RFC 1962,
//! RFC 3078), IPCP with DNS/NBNS (RFC 1332, RFC 1877), and the link phases tying them together
//! (RFC 1661 §3.2) in [`Link`].
//!
//! Nothing here does I/O, reads a clock or draws OS randomness: time comes in as
//! [`std::time::Instant`] arguments and randomness from a caller-supplied
//! [`rand_core::RngCore`].
//!
//! Driving a server link (the daemon does this per call, with GRE and a clock around it):
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::Instant;
//!
//! use ppp_core::{Event, Link, LinkConfig, describe_frame};
//! use rand_chacha::ChaCha8Rng;
//! use rand_chacha::rand_core::SeedableRng;
//!
//! let secrets = |user: &[u8]| (user == b"alice").then(|| mschap::nt_password_hash("secret"));
//! let mut link = Link::new(LinkConfig::server("pptpd"), ChaCha8Rng::seed_from_u64(1));
//! let now = Instant::now();
//! link.open(now);
//! while let Some(frame) = link.poll_transmit() {
//!     // Send `frame` in a GRE packet.
//!     assert!(describe_frame(&frame).starts_with("[LCP ConfReq id=0x1"));
//! }
//! // For every received PPP frame that is not IPv4 (0x0021) or MPPE (0x00FD) data:
//! //     link.handle_frame(now, &frame, &secrets);
//! // and when `link.poll_timeout()` passes: link.handle_timeout(now).
//! while let Some(event) = link.poll_event() {
//!     match event {
//!         Event::Authenticated { .. } => {
//!             link.set_addresses(now, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
//!         }
//!         Event::Down(reason) => println!("link down: {reason}"),
//!         _ => {}
//!     }
//! }
//! # let _ = &secrets;
//! ```

#![deny(unsafe_code)]

pub mod ccp;
pub mod chap;
pub mod describe;
mod error;
pub mod frame;
pub mod fsm;
pub mod ipcp;
pub mod lcp;
pub mod link;
pub mod packet;
mod reason;
mod timer;

pub use ccp::{MppeBits, MppePolicy, MppeStrength};
pub use chap::Secrets;
pub use describe::describe_frame;
pub use error::{ChapError, FrameError, OptionError, PacketError};
pub use frame::{PppFrame, Protocol, encode_frame};
pub use link::{Credentials, Event, Link, LinkConfig, Phase, Role};
pub use reason::Reason;
