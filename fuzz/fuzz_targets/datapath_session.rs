//! cargo-fuzz target `datapath_session`: see [`pptpd_fuzz::datapath::datapath_session`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pptpd_fuzz::datapath::datapath_session(data));
