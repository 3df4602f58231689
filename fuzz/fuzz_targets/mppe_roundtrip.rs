//! cargo-fuzz target `mppe_roundtrip`: see [`pptpd_fuzz::mppe::mppe_roundtrip`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::mppe::mppe_roundtrip(data));
