fn main() {
    eprintln!("ringkv: server not built yet");
    std::process::exit(2);
}
