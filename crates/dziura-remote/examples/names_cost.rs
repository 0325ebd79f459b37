//! `cargo run --release --example names_cost PID [READS]`: what reading Python thread names
//! costs: the time of one sample (every thread's stack) with names off and on (names are
//! cached, so this is the per-sample cost), and of one full read of `threading._active`.
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let pid: i32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: names_cost PID [READS]");
    let reads: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let mut spy = dziura_remote::Spy::attach(pid).unwrap_or_else(|e| panic!("{e}"));
    let threads = spy.threads().unwrap_or_else(|e| panic!("{e}")).len();
    let mut per_sample = |names: bool| {
        spy.thread_names = names;
        let start = Instant::now();
        let mut errors = 0;
        for _ in 0..reads {
            if spy.threads().is_err() {
                errors += 1;
            }
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(reads);
        (us, errors)
    };
    let (off, e_off) = per_sample(false);
    let (on, e_on) = per_sample(true);
    let (off2, _) = per_sample(false);
    let interp = spy
        .process
        .u64(spy.interpreter.runtime + spy.layout.interpreters_head)
        .unwrap();
    let n = 200;
    let start = Instant::now();
    let mut named = 0;
    for _ in 0..n {
        named = dziura_remote::objects::thread_names(&spy.process, &spy.layout, interp)
            .map(|m| m.len())
            .unwrap_or(0);
    }
    let full = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!(
        "{threads} threads: one sample {off:.1} / {off2:.1} us without names, {on:.1} us with \
         (errors {e_off}/{e_on} of {reads}); a full read of threading._active ({named} names): \
         {full:.1} us"
    );
}
