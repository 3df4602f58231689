//! cargo-fuzz target `config_address_list`: see [`pptpd_fuzz::config::address_list`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::config::address_list(data));
