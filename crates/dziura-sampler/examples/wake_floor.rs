//! `wake_floor RATE SECONDS`: the sampler's clock with nothing read, for bench/sampling.py. It
//! prints the CPU seconds per second that waking RATE times a second costs on this machine: the
//! floor under any sampler that reads a process from outside at that rate.
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(rate), Some(seconds)) = (
        args.next().and_then(|a| a.parse::<f64>().ok()),
        args.next().and_then(|a| a.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: wake_floor RATE SECONDS");
        std::process::exit(2);
    };
    let mut pacer = dziura_sampler::Pacer::new(rate, std::process::id().into());
    let start = Instant::now();
    let mut wakeups = 0u64;
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        pacer.wait();
        wakeups += 1;
    }
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let wall = start.elapsed().as_secs_f64();
    println!(
        "{wakeups} wakeups in {wall:.3} s: {:.4} CPU s/s",
        (cpu(usage.ru_utime) + cpu(usage.ru_stime)) / wall
    );
}
