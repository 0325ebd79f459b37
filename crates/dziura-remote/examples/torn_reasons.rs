//! `torn_reasons PID N [PAUSE_US]`: reads the stacks N times, PAUSE_US apart, and counts why reads were torn (for tuning).
use std::collections::HashMap;
fn main() {
    let mut a = std::env::args().skip(1);
    let pid: i32 = a.next().and_then(|s| s.parse().ok()).expect("PID");
    let n: usize = a.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let pause: u64 = a.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut spy = dziura_remote::Spy::attach(pid).expect("attach");
    let mut why: HashMap<String, usize> = HashMap::new();
    for _ in 0..n {
        std::thread::sleep(std::time::Duration::from_micros(pause));
        match spy.threads() {
            Ok(_) => *why.entry("ok".into()).or_default() += 1,
            Err(e) => *why.entry(e.to_string()).or_default() += 1,
        }
    }
    println!("{why:#?} {:?}", spy.torn);
}
