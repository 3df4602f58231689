//! IP Control Protocol (RFC 1332) with the Microsoft DNS/NBNS options (RFC 1877).
//!
//! Server: our Configure-Request carries only IP-Address = our local address (no VJ: we do not
//! implement it, so we neither offer nor accept it). The client's IP-Address is Nak'ed to the
//! address assigned to it unless it already asks for exactly that one (clients send 0.0.0.0);
//! a client that sends no IP-Address at all is Nak'ed once with it (pppd does the same). DNS
//! (129, 131) and NBNS (130, 132) requests are Nak'ed to the configured values, or Rejected
//! when none is configured; VJ compression (2), IP-Addresses (1) and unknown options are
//! Rejected.
//!
//! Client: we request IP-Address 0.0.0.0 and both DNS servers, take the values the server
//! Naks them to, and drop the DNS options it Rejects.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use rand_core::RngCore;

use crate::error::OptionError;
use crate::fsm::{FsmOptions, RequestVerdict, VerdictBuilder};
use crate::packet::{ConfigOption, OptionIter};

/// Option type: IP-Addresses (RFC 1172, deprecated).
pub const OPTION_IP_ADDRESSES: u8 = 1;
/// Option type: IP-Compression-Protocol (RFC 1332 §3.2).
pub const OPTION_COMPRESSION: u8 = 2;
/// Option type: IP-Address (RFC 1332 §3.3).
pub const OPTION_IP_ADDRESS: u8 = 3;
/// Option type: Primary DNS Server Address (RFC 1877 §1.1).
pub const OPTION_PRIMARY_DNS: u8 = 129;
/// Option type: Primary NBNS Server Address (RFC 1877 §1.2).
pub const OPTION_PRIMARY_NBNS: u8 = 130;
/// Option type: Secondary DNS Server Address (RFC 1877 §1.3).
pub const OPTION_SECONDARY_DNS: u8 = 131;
/// Option type: Secondary NBNS Server Address (RFC 1877 §1.4).
pub const OPTION_SECONDARY_NBNS: u8 = 132;

/// A decoded IPCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcpOption<'a> {
    /// IP-Addresses (source, destination), deprecated.
    IpAddresses(Ipv4Addr, Ipv4Addr),
    /// IP-Compression-Protocol and its data (VJ: max slot id, compress slot id).
    Compression {
        /// The compression protocol (0x002d for Van Jacobson).
        protocol: u16,
        /// Protocol-specific data.
        data: &'a [u8],
    },
    /// IP-Address.
    IpAddress(Ipv4Addr),
    /// Primary DNS server.
    PrimaryDns(Ipv4Addr),
    /// Primary NBNS (WINS) server.
    PrimaryNbns(Ipv4Addr),
    /// Secondary DNS server.
    SecondaryDns(Ipv4Addr),
    /// Secondary NBNS (WINS) server.
    SecondaryNbns(Ipv4Addr),
    /// Any other option.
    Unknown(ConfigOption<'a>),
}

impl<'a> IpcpOption<'a> {
    /// Interprets a raw option, checking the length its type requires.
    pub fn parse(option: &ConfigOption<'a>) -> Result<Self, OptionError> {
        let address = |option: &ConfigOption<'a>| option.fixed::<4>().map(Ipv4Addr::from);
        Ok(match option.kind {
            OPTION_IP_ADDRESSES => {
                let [a, b, c, d, e, f, g, h] = option.fixed::<8>()?;
                IpcpOption::IpAddresses(Ipv4Addr::new(a, b, c, d), Ipv4Addr::new(e, f, g, h))
            }
            OPTION_COMPRESSION => {
                let [high, low, data @ ..] = option.at_least(2)? else {
                    return Err(OptionError::BadLength {
                        kind: option.kind,
                        length: option.data.len(),
                        expected: 2,
                    });
                };
                IpcpOption::Compression {
                    protocol: u16::from_be_bytes([*high, *low]),
                    data,
                }
            }
            OPTION_IP_ADDRESS => IpcpOption::IpAddress(address(option)?),
            OPTION_PRIMARY_DNS => IpcpOption::PrimaryDns(address(option)?),
            OPTION_PRIMARY_NBNS => IpcpOption::PrimaryNbns(address(option)?),
            OPTION_SECONDARY_DNS => IpcpOption::SecondaryDns(address(option)?),
            OPTION_SECONDARY_NBNS => IpcpOption::SecondaryNbns(address(option)?),
            _ => IpcpOption::Unknown(*option),
        })
    }

    /// Appends the encoded option.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            IpcpOption::IpAddresses(source, destination) => {
                let mut body = source.octets().to_vec();
                body.extend_from_slice(&destination.octets());
                ConfigOption::encode(OPTION_IP_ADDRESSES, &body, out);
            }
            IpcpOption::Compression { protocol, data } => {
                let mut body = protocol.to_be_bytes().to_vec();
                body.extend_from_slice(data);
                ConfigOption::encode(OPTION_COMPRESSION, &body, out);
            }
            IpcpOption::IpAddress(address) => {
                ConfigOption::encode(OPTION_IP_ADDRESS, &address.octets(), out)
            }
            IpcpOption::PrimaryDns(address) => {
                ConfigOption::encode(OPTION_PRIMARY_DNS, &address.octets(), out)
            }
            IpcpOption::PrimaryNbns(address) => {
                ConfigOption::encode(OPTION_PRIMARY_NBNS, &address.octets(), out)
            }
            IpcpOption::SecondaryDns(address) => {
                ConfigOption::encode(OPTION_SECONDARY_DNS, &address.octets(), out)
            }
            IpcpOption::SecondaryNbns(address) => {
                ConfigOption::encode(OPTION_SECONDARY_NBNS, &address.octets(), out)
            }
            IpcpOption::Unknown(option) => ConfigOption::encode(option.kind, option.data, out),
        }
    }
}

/// Appends pppd's rendering of one IPCP option.
pub(crate) fn describe_option(option: &ConfigOption<'_>, out: &mut String) {
    let _ = match IpcpOption::parse(option) {
        Ok(IpcpOption::IpAddresses(source, destination)) => {
            write!(out, "addrs {source} {destination}")
        }
        Ok(IpcpOption::Compression { protocol, data }) => {
            let _ = match protocol {
                0x002d => write!(out, "compress VJ"),
                0x0037 => write!(out, "compress old-VJ"),
                other => write!(out, "compress 0x{other:x}"),
            };
            for byte in data {
                let _ = write!(out, " {byte:02x}");
            }
            Ok(())
        }
        Ok(IpcpOption::IpAddress(address)) => write!(out, "addr {address}"),
        Ok(IpcpOption::PrimaryDns(address)) => write!(out, "ms-dns1 {address}"),
        Ok(IpcpOption::SecondaryDns(address)) => write!(out, "ms-dns2 {address}"),
        Ok(IpcpOption::PrimaryNbns(address)) | Ok(IpcpOption::SecondaryNbns(address)) => {
            write!(out, "ms-wins {address}")
        }
        Ok(IpcpOption::Unknown(_)) | Err(_) => {
            crate::describe::raw_option(option, out);
            Ok(())
        }
    };
}

/// Which side of IPCP we play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpcpRole {
    /// We assign the peer its address and name servers.
    Server {
        /// Our address on the link.
        local: Ipv4Addr,
        /// The address assigned to the peer.
        peer: Ipv4Addr,
        /// Primary and secondary DNS servers to hand out.
        dns: [Option<Ipv4Addr>; 2],
        /// Primary and secondary NBNS (WINS) servers to hand out.
        nbns: [Option<Ipv4Addr>; 2],
    },
    /// We ask for an address and DNS servers.
    Client,
}

/// The IPCP option logic.
#[derive(Debug, Clone)]
pub struct IpcpOptions {
    role: IpcpRole,
    want_address: Option<Ipv4Addr>,
    want_dns: [Option<Ipv4Addr>; 2],
    local_address: Option<Ipv4Addr>,
    local_dns: [Option<Ipv4Addr>; 2],
    peer_address: Option<Ipv4Addr>,
    nak_missing_address: bool,
}

impl IpcpOptions {
    /// Option logic for `role`.
    pub fn new(role: IpcpRole) -> Self {
        let mut options = IpcpOptions {
            role,
            want_address: None,
            want_dns: [None; 2],
            local_address: None,
            local_dns: [None; 2],
            peer_address: None,
            nak_missing_address: true,
        };
        options.reset();
        options
    }

    /// Our address as acknowledged by the peer (client: the one the server assigned).
    pub fn local_address(&self) -> Option<Ipv4Addr> {
        self.local_address
    }

    /// The peer's address as we acknowledged it.
    pub fn peer_address(&self) -> Option<Ipv4Addr> {
        self.peer_address
    }

    /// DNS servers: the configured ones (server) or those the server gave us (client).
    pub fn dns(&self) -> [Option<Ipv4Addr>; 2] {
        match &self.role {
            IpcpRole::Server { dns, .. } => *dns,
            IpcpRole::Client => self.local_dns,
        }
    }

    fn server_request(
        &mut self,
        options: &[u8],
        reject_if_disagree: bool,
    ) -> (RequestVerdict, Option<Ipv4Addr>) {
        let IpcpRole::Server {
            peer: assigned,
            dns,
            nbns,
            ..
        } = self.role.clone()
        else {
            return (RequestVerdict::Ack, None);
        };
        let mut verdict = VerdictBuilder::default();
        let mut address = None;
        let mut iter = OptionIter::new(options);
        while let Some(item) = iter.next() {
            let Ok(option) = item else {
                verdict.reject(iter.remainder());
                break;
            };
            let configured = |index: usize, servers: &[Option<Ipv4Addr>; 2]| {
                servers.get(index).copied().flatten()
            };
            let (offered, wanted, encode): (
                Ipv4Addr,
                Option<Ipv4Addr>,
                fn(Ipv4Addr) -> IpcpOption<'static>,
            ) = match IpcpOption::parse(&option) {
                Ok(IpcpOption::IpAddress(offered)) => {
                    (offered, Some(assigned), IpcpOption::IpAddress)
                }
                Ok(IpcpOption::PrimaryDns(offered)) => {
                    (offered, configured(0, &dns), IpcpOption::PrimaryDns)
                }
                Ok(IpcpOption::SecondaryDns(offered)) => {
                    (offered, configured(1, &dns), IpcpOption::SecondaryDns)
                }
                Ok(IpcpOption::PrimaryNbns(offered)) => {
                    (offered, configured(0, &nbns), IpcpOption::PrimaryNbns)
                }
                Ok(IpcpOption::SecondaryNbns(offered)) => {
                    (offered, configured(1, &nbns), IpcpOption::SecondaryNbns)
                }
                // VJ, IP-Addresses, unknown or malformed: Reject.
                _ => {
                    verdict.reject(option.raw);
                    continue;
                }
            };
            match wanted {
                // RFC 1877: a server with nothing to give Rejects the option.
                None => verdict.reject(option.raw),
                Some(wanted) if wanted == offered => {
                    if option.kind == OPTION_IP_ADDRESS {
                        address = Some(offered);
                    }
                }
                Some(wanted) => {
                    // RFC 1332 §3.3: "If the peer ... the Configure-Nak ... specifies the
                    // IP-Address" it should use.
                    let mut nak = Vec::new();
                    encode(wanted).encode(&mut nak);
                    verdict.nak(option.raw, &nak, reject_if_disagree);
                }
            }
        }
        if address.is_none()
            && !options_contain(options, OPTION_IP_ADDRESS)
            && self.nak_missing_address
            && !reject_if_disagree
            && !verdict.has_rejects()
        {
            // pppd: a peer that did not ask for an address is told the one it gets, once.
            self.nak_missing_address = false;
            let mut nak = Vec::new();
            IpcpOption::IpAddress(assigned).encode(&mut nak);
            verdict.nak(&[], &nak, false);
        }
        (verdict.finish(), address)
    }

    fn client_request(&mut self, options: &[u8]) -> (RequestVerdict, Option<Ipv4Addr>) {
        let mut verdict = VerdictBuilder::default();
        let mut address = None;
        let mut iter = OptionIter::new(options);
        while let Some(item) = iter.next() {
            let Ok(option) = item else {
                verdict.reject(iter.remainder());
                break;
            };
            match IpcpOption::parse(&option) {
                Ok(IpcpOption::IpAddress(offered)) => address = Some(offered),
                _ => verdict.reject(option.raw),
            }
        }
        (verdict.finish(), address)
    }
}

fn options_contain(options: &[u8], kind: u8) -> bool {
    OptionIter::new(options)
        .flatten()
        .any(|option| option.kind == kind)
}

impl FsmOptions for IpcpOptions {
    fn reset(&mut self) {
        match &self.role {
            IpcpRole::Server { local, .. } => {
                self.want_address = Some(*local);
                self.want_dns = [None; 2];
            }
            IpcpRole::Client => {
                self.want_address = Some(Ipv4Addr::UNSPECIFIED);
                self.want_dns = [Some(Ipv4Addr::UNSPECIFIED); 2];
            }
        }
        self.nak_missing_address = true;
    }

    fn build_request(&mut self, _rng: &mut dyn RngCore, out: &mut Vec<u8>) {
        if let Some(address) = self.want_address {
            IpcpOption::IpAddress(address).encode(out);
        }
        if let Some(address) = self.want_dns[0] {
            IpcpOption::PrimaryDns(address).encode(out);
        }
        if let Some(address) = self.want_dns[1] {
            IpcpOption::SecondaryDns(address).encode(out);
        }
    }

    fn handle_request(
        &mut self,
        options: &[u8],
        reject_if_disagree: bool,
        _rng: &mut dyn RngCore,
    ) -> RequestVerdict {
        let (verdict, address) = match self.role {
            IpcpRole::Server { .. } => self.server_request(options, reject_if_disagree),
            IpcpRole::Client => self.client_request(options),
        };
        if verdict.is_ack() {
            self.peer_address = address;
        }
        verdict
    }

    fn handle_ack(&mut self, _options: &[u8]) {
        self.local_address = self.want_address;
        self.local_dns = self.want_dns;
    }

    fn handle_nak(
        &mut self,
        options: &[u8],
        treat_as_reject: bool,
        _rng: &mut dyn RngCore,
    ) -> bool {
        let Ok(options) = crate::packet::parse_options(options) else {
            return false;
        };
        let client = matches!(self.role, IpcpRole::Client);
        for option in &options {
            match IpcpOption::parse(option) {
                Ok(IpcpOption::IpAddress(address)) if self.want_address.is_some() => {
                    if treat_as_reject {
                        self.want_address = None;
                    } else if client && !address.is_unspecified() {
                        self.want_address = Some(address);
                    }
                    // A server keeps its own address: it is not the peer's to choose.
                }
                Ok(IpcpOption::PrimaryDns(address)) if self.want_dns[0].is_some() => {
                    self.want_dns[0] = (!treat_as_reject).then_some(address);
                }
                Ok(IpcpOption::SecondaryDns(address)) if self.want_dns[1].is_some() => {
                    self.want_dns[1] = (!treat_as_reject).then_some(address);
                }
                _ => {}
            }
        }
        true
    }

    fn handle_reject(&mut self, options: &[u8]) -> bool {
        for option in OptionIter::new(options).flatten() {
            match option.kind {
                OPTION_IP_ADDRESS => self.want_address = None,
                OPTION_PRIMARY_DNS => self.want_dns[0] = None,
                OPTION_SECONDARY_DNS => self.want_dns[1] = None,
                _ => {}
            }
        }
        true
    }
}
