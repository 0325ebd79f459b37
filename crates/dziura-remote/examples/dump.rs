//! `cargo run --example dump PID`: prints every thread's Python stack, for poking at layouts.
fn main() {
    let pid: i32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .expect("usage: dump PID");
    let mut spy = dziura_remote::Spy::attach(pid).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "CPython {} at {}",
        spy.interpreter.version_string(),
        spy.interpreter.binary.display()
    );
    for t in spy.threads().unwrap_or_else(|e| panic!("{e}")) {
        println!(
            "thread {} gil={} active={}",
            t.native_id, t.holds_gil, t.active
        );
        for f in &t.frames {
            println!("    {} ({}:{})", f.code.qualname, f.code.filename, f.line);
        }
    }
}
