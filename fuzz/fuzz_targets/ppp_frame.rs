//! cargo-fuzz target `ppp_frame`: see [`pptpd_fuzz::ppp::ppp_frame`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::ppp::ppp_frame(data));
