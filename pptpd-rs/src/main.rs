fn main() {
    println!("pptpd-rs {}", env!("CARGO_PKG_VERSION"));
}
