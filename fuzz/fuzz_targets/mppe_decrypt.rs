//! cargo-fuzz target `mppe_decrypt`: see [`pptpd_fuzz::mppe::mppe_decrypt`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::mppe::mppe_decrypt(data));
