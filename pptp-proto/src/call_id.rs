//! The PPTP Call ID, RFC 2637 §3.2.2.
//!
//! "Each peer assigns a Call ID value to each user session it requests or accepts. This Call
//! ID value MUST be unique for the tunnel between the PNS and PAC to which it belongs."
//! The same number travels in the control messages and in the Key field of every enhanced GRE
//! packet (§4.1), where it names the *receiver's* call.

use core::fmt;

/// A PPTP Call ID: a 16-bit number one peer assigned to one user session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u16);

impl CallId {
    /// The Call ID as a plain number.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u16> for CallId {
    fn from(value: u16) -> Self {
        CallId(value)
    }
}

impl From<CallId> for u16 {
    fn from(value: CallId) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::CallId;

    #[test]
    fn displays_as_the_bare_number() {
        assert_eq!(CallId(27020).to_string(), "27020");
        assert_eq!(u16::from(CallId::from(7)), 7);
    }
}
