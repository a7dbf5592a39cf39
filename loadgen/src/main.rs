//! loadgen (skeleton: lands with issue 5).
#![forbid(unsafe_code)]

fn main() {
    eprintln!("loadgen is not built yet");
    std::process::exit(2);
}
