//! poptop's IP address lists, the values of `localip` and `remoteip` in pptpd.conf.
//!
//! pptpd.conf(5), NOTES: "An ip-specification above (for the localip and remoteip tags) may be a
//! list of IP addresses (for example 192.168.0.2,192.168.0.3), a range (for example
//! 192.168.0.1-254 or 192.168.0-255.2) or some combination". So a range may vary any one octet
//! (`192.168.0-255.2` is 192.168.0.2, 192.168.1.2, ... 192.168.255.2). pptpd-rs also accepts a
//! range of whole addresses, `192.168.0.10-192.168.1.20`, which poptop would misread.
//!
//! The stock pptpd.conf adds: "No spaces are permitted between commas or within addresses" and
//! "No shortcuts in ranges! ie. 234-8 does not mean 234 to 238". Addresses keep the order in which
//! they are written; the order matters because poptop pairs `localip[i]` with `remoteip[i]`.
//!
//! Stricter than poptop: an octet with a leading zero (`010`, which `inet_addr` reads as octal
//! but poptop's range code reads as decimal) is refused, host names are refused, an address
//! written twice is refused, and so is any address that cannot be a PPP peer (0.0.0.0/8,
//! loopback, multicast, class E and the broadcast address).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, map_opt};
use nom::{IResult, Parser};

/// The most addresses one range, and one whole list, may expand to.
pub const MAX_ADDRESSES: u64 = 65536;

/// An expanded address list, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressList {
    addresses: Vec<Ipv4Addr>,
}

/// Why an address list was refused; the config readers add the keyword and the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressListError {
    /// An item without `-` is not an IPv4 address.
    BadAddress(String),
    /// An item with `-` is not a valid range, or runs backwards.
    BadRange(String),
    /// One range covers more than [`MAX_ADDRESSES`] addresses.
    RangeTooLarge(String, u64),
    /// The whole list covers more than [`MAX_ADDRESSES`] addresses.
    ListTooLarge(u64),
    /// An address appears twice.
    Duplicate(Ipv4Addr),
    /// An address that cannot be given to a PPP peer.
    NotUnicast(Ipv4Addr),
}

impl AddressList {
    /// Parses and expands a comma-separated list such as `192.168.0.234-238,192.168.0.245`.
    pub fn parse(text: &str) -> Result<Self, AddressListError> {
        let mut addresses = Vec::new();
        let mut seen = HashSet::new();
        for item in text.split(',') {
            let range = parse_item(item)?;
            let count = range.count();
            if count > MAX_ADDRESSES {
                return Err(AddressListError::RangeTooLarge(item.to_owned(), count));
            }
            let total = addresses.len() as u64 + count;
            if total > MAX_ADDRESSES {
                return Err(AddressListError::ListTooLarge(total));
            }
            for address in range.addresses() {
                if !is_unicast_host(address) {
                    return Err(AddressListError::NotUnicast(address));
                }
                if !seen.insert(address) {
                    return Err(AddressListError::Duplicate(address));
                }
                addresses.push(address);
            }
        }
        Ok(Self { addresses })
    }

    /// The addresses, in the order written.
    pub fn addresses(&self) -> &[Ipv4Addr] {
        &self.addresses
    }

    /// The addresses, in the order written.
    pub fn into_vec(self) -> Vec<Ipv4Addr> {
        self.addresses
    }
}

/// Whether `address` can be the address of a PPP peer or of our end of the link: pppd refuses
/// loopback, multicast and class E (`ppp_bad_ip_addr`), and 0.0.0.0 means "no address" in IPCP.
pub fn is_unicast_host(address: Ipv4Addr) -> bool {
    let first = address.octets()[0];
    first != 0 && !address.is_loopback() && first < 224
}

/// One item of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    /// `a.b.c.d`, or `a.b.c.d-e.f.g.h` (inclusive).
    Span(u32, u32),
    /// One octet (`position` 0..=3) runs from `low` to `high` (inclusive); the others are fixed.
    Octet {
        base: [u8; 4],
        position: usize,
        low: u8,
        high: u8,
    },
}

impl Item {
    fn count(self) -> u64 {
        match self {
            Self::Span(start, end) => u64::from(end) - u64::from(start) + 1,
            Self::Octet { low, high, .. } => u64::from(high) - u64::from(low) + 1,
        }
    }

    fn addresses(self) -> Box<dyn Iterator<Item = Ipv4Addr>> {
        match self {
            Self::Span(start, end) => Box::new((start..=end).map(Ipv4Addr::from)),
            Self::Octet {
                base,
                position,
                low,
                high,
            } => Box::new((low..=high).map(move |value| {
                let mut octets = base;
                if let Some(octet) = octets.get_mut(position) {
                    *octet = value;
                }
                Ipv4Addr::from(octets)
            })),
        }
    }
}

/// Parses one comma-separated item.
fn parse_item(item: &str) -> Result<Item, AddressListError> {
    let is_range = item.contains('-');
    let parsed = if is_range {
        all_consuming(full_range)
            .parse(item)
            .or_else(|_: nom::Err<nom::error::Error<&str>>| all_consuming(octet_range).parse(item))
    } else {
        all_consuming(address)
            .parse(item)
            .map(|(rest, a)| (rest, Item::Span(u32::from(a), u32::from(a))))
    };
    match parsed {
        Ok((_, Item::Span(start, end))) if start > end => {
            Err(AddressListError::BadRange(item.to_owned()))
        }
        Ok((_, Item::Octet { low, high, .. })) if low > high => {
            Err(AddressListError::BadRange(item.to_owned()))
        }
        Ok((_, parsed)) => Ok(parsed),
        Err(_) if is_range => Err(AddressListError::BadRange(item.to_owned())),
        Err(_) => Err(AddressListError::BadAddress(item.to_owned())),
    }
}

/// A decimal octet: 1 to 3 digits, no leading zero, at most 255.
fn octet(input: &str) -> IResult<&str, u8> {
    map_opt(digit1, |digits: &str| {
        if digits.len() > 3 || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        digits.parse::<u8>().ok()
    })
    .parse(input)
}

/// A dotted-quad IPv4 address.
fn address(input: &str) -> IResult<&str, Ipv4Addr> {
    (octet, char('.'), octet, char('.'), octet, char('.'), octet)
        .map(|(a, _, b, _, c, _, d)| Ipv4Addr::new(a, b, c, d))
        .parse(input)
}

/// `a.b.c.d-e.f.g.h`.
fn full_range(input: &str) -> IResult<&str, Item> {
    (address, char('-'), address)
        .map(|(start, _, end)| Item::Span(u32::from(start), u32::from(end)))
        .parse(input)
}

/// One octet of an octet range: `n` or `low-high`.
fn octet_or_span(input: &str) -> IResult<&str, (u8, Option<u8>)> {
    (
        octet,
        nom::combinator::opt((char('-'), octet).map(|(_, high)| high)),
    )
        .parse(input)
}

/// `a.b.c.low-high`, or the range in any other single octet.
fn octet_range(input: &str) -> IResult<&str, Item> {
    map_opt(
        (
            octet_or_span,
            char('.'),
            octet_or_span,
            char('.'),
            octet_or_span,
            char('.'),
            octet_or_span,
        ),
        |(a, _, b, _, c, _, d)| {
            let fields = [a, b, c, d];
            let mut ranged = fields
                .iter()
                .enumerate()
                .filter_map(|(i, (low, high))| high.map(|high| (i, *low, high)));
            let (position, low, high) = ranged.next()?;
            if ranged.next().is_some() {
                return None; // more than one hyphen
            }
            Some(Item::Octet {
                base: fields.map(|(low, _)| low),
                position,
                low,
                high,
            })
        },
    )
    .parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str) -> Vec<String> {
        AddressList::parse(text)
            .unwrap()
            .into_vec()
            .iter()
            .map(Ipv4Addr::to_string)
            .collect()
    }

    #[test]
    fn stock_examples() {
        assert_eq!(
            expand("192.168.0.234-238,192.168.0.245"),
            [
                "192.168.0.234",
                "192.168.0.235",
                "192.168.0.236",
                "192.168.0.237",
                "192.168.0.238",
                "192.168.0.245"
            ]
        );
        assert_eq!(
            expand("192.168.0.234,192.168.0.245-249,192.168.0.254").len(),
            7
        );
        assert_eq!(
            AddressList::parse("192.168.1.1-254")
                .unwrap()
                .addresses()
                .len(),
            254
        );
    }

    #[test]
    fn range_in_an_inner_octet() {
        let list = expand("192.168.0-2.5");
        assert_eq!(list, ["192.168.0.5", "192.168.1.5", "192.168.2.5"]);
        assert_eq!(expand("10-11.0.0.1"), ["10.0.0.1", "11.0.0.1"]);
    }

    #[test]
    fn whole_address_range_crosses_octets() {
        assert_eq!(
            expand("10.0.0.254-10.0.1.1"),
            ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]
        );
        assert_eq!(expand("10.0.0.7-10.0.0.7"), ["10.0.0.7"]);
    }

    #[test]
    fn bad_items() {
        use AddressListError::*;
        let cases = [
            ("192.168.0.240-230", BadRange("192.168.0.240-230".into())),
            ("10.0.0.9-10.0.0.1", BadRange("10.0.0.9-10.0.0.1".into())),
            ("192.168.0.1-300", BadRange("192.168.0.1-300".into())),
            ("192.168.0-1.1-2", BadRange("192.168.0-1.1-2".into())),
            ("192.168.0.1--2", BadRange("192.168.0.1--2".into())),
            ("192.168.0.256", BadAddress("192.168.0.256".into())),
            ("192.168.0", BadAddress("192.168.0".into())),
            ("192.168.0.010", BadAddress("192.168.0.010".into())),
            ("vpn.example.com", BadAddress("vpn.example.com".into())),
            ("192.168.0.1,", BadAddress(String::new())),
            ("", BadAddress(String::new())),
            (" 192.168.0.1", BadAddress(" 192.168.0.1".into())),
            (
                "192.168.0.1, 192.168.0.2",
                BadAddress(" 192.168.0.2".into()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(AddressList::parse(text), Err(expected), "{text}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(
            AddressList::parse("10.0.0.0-10.1.0.0"),
            Err(AddressListError::RangeTooLarge(
                "10.0.0.0-10.1.0.0".into(),
                65537
            ))
        );
        assert_eq!(
            AddressList::parse("10.0.0.1-10.0.255.255")
                .unwrap()
                .addresses()
                .len(),
            65535
        );
        assert_eq!(
            AddressList::parse("10.0.0.1-10.0.255.255,10.1.0.1-2"),
            Err(AddressListError::ListTooLarge(65537))
        );
    }

    #[test]
    fn duplicates_and_unusable_addresses() {
        assert_eq!(
            AddressList::parse("10.0.0.1-5,10.0.0.3"),
            Err(AddressListError::Duplicate(Ipv4Addr::new(10, 0, 0, 3)))
        );
        for (text, bad) in [
            ("0.0.0.0", Ipv4Addr::UNSPECIFIED),
            ("127.0.0.1", Ipv4Addr::LOCALHOST),
            ("224.0.0.1", Ipv4Addr::new(224, 0, 0, 1)),
            ("10.0.0.1,255.255.255.255", Ipv4Addr::BROADCAST),
        ] {
            assert_eq!(
                AddressList::parse(text),
                Err(AddressListError::NotUnicast(bad)),
                "{text}"
            );
        }
    }
}
