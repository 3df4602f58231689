//! cargo-fuzz target `ppp_link_client`: see [`pptpd_fuzz::ppp::ppp_link_client`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::ppp::ppp_link_client(data));
