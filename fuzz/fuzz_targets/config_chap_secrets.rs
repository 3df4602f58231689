//! cargo-fuzz target `config_chap_secrets`: see [`pptpd_fuzz::config::chap_secrets`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::config::chap_secrets(data));
