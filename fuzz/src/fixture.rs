//! Facts from the capture `pptp-proto/tests/data/poptop-pptp-linux-mschapv2-mppe128.pcap`
//! (see `/work/shared/fixtures/README.md`) that the harnesses use so that seeds cut from the
//! capture reach deep code: the credentials and the MPPE keys the exchange derived.

use std::net::Ipv4Addr;

use hex_literal::hex;

/// The user of the capture's chap-secrets.
pub const USER: &str = "root";
/// Its password.
pub const PASSWORD: &str = "123456";
/// The server's CHAP name (`name pptpd`).
pub const SERVER_NAME: &str = "pptpd";
/// The server's PPP address (`localip`).
pub const LOCAL_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
/// The address the server gave the client (first of `remoteip`).
pub const PEER_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 234);
/// The client's public address (the GRE source).
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 100, 100, 2);
/// The server's MPPE send start key (the client's receive key).
pub const SERVER_SEND_KEY: [u8; 16] = hex!("855a5718ed3c745cb819b80fbda807e8");
/// The server's MPPE receive start key (the client's send key).
pub const SERVER_RECV_KEY: [u8; 16] = hex!("dfba1760c6137d9e399600038be96236");
/// The server's Call ID in the capture (Outgoing-Call-Reply, frame 21).
pub const SERVER_CALL_ID: u16 = 0;
/// The client's Call ID in the capture (Outgoing-Call-Request, frame 20).
pub const CLIENT_CALL_ID: u16 = 27020;

/// The NT password hash of [`USER`], as the secrets closure returns it.
pub fn password_hash() -> [u8; 16] {
    mschap::nt_password_hash(PASSWORD)
}

/// The secrets the server-role harnesses authenticate against: [`USER`] / [`PASSWORD`].
pub fn secrets(user: &[u8]) -> Option<[u8; 16]> {
    (user == USER.as_bytes()).then(password_hash)
}
