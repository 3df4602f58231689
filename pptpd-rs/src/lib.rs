//! pptpd-rs: a PPTP egress gateway in one process — the PPTP control server
//! (RFC 2637), PPP with MS-CHAPv2 and MPPE (via `ppp-core` and `mschap`), the
//! GRE ⇄ TUN data path, the client address pool, and forwarding and NAT (via
//! `nat`), in place of poptop pptpd + pppd + hand-written iptables.
//!
//! Where things live: [`config`] reads the operator's files, [`gateway`] starts
//! and stops everything, [`control`] is the TCP 1723 side and drives each call's
//! PPP link, [`datapath`] moves packets between GRE and the TUN device;
//! [`link_resolver`] and [`link_watch`] find and follow each client's next hop
//! for `gre-direct`, [`ipsec_policies`] says when no frame may be written by hand.

pub mod call_ids;
pub mod cli;
pub mod config;
pub mod control;
pub mod datapath;
pub mod gateway;
pub mod ipsec_policies;
pub mod link_resolver;
pub mod link_watch;
pub mod logging;
pub mod pool;
pub mod routes;
pub mod secrets;
pub mod settings;
pub mod state_dir;
