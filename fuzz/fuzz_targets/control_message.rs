//! cargo-fuzz target `control_message`: see [`pptpd_fuzz::control::control_message`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::control::control_message(data));
