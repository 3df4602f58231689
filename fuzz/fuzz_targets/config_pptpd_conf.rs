//! cargo-fuzz target `config_pptpd_conf`: see [`pptpd_fuzz::config::pptpd_conf`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::config::pptpd_conf(data));
