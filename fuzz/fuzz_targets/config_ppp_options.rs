//! cargo-fuzz target `config_ppp_options`: see [`pptpd_fuzz::config::ppp_options`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::config::ppp_options(data));
