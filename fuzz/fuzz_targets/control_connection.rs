//! cargo-fuzz target `control_connection`: see [`pptpd_fuzz::control::control_connection`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::control::control_connection(data));
