//! cargo-fuzz target `gre_datagram`: see [`pptpd_fuzz::gre::gre_datagram`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::gre::gre_datagram(data));
