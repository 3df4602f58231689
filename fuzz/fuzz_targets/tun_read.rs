//! cargo-fuzz target `tun_read`: see [`pptpd_fuzz::tun::tun_read`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::tun::tun_read(data));
