//! cargo-fuzz target `tun_coalesce`: see [`pptpd_fuzz::tun::tun_coalesce`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::tun::tun_coalesce(data));
