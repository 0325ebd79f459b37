//! `dziura top`: a live view of a running program. Its first screen ranks the user's own
//! functions by the time spent in them and in the library code they call ("your code first");
//! one key shows every function in the table `show` and `record -f table` print, sortable by
//! each of its columns. Sampling is `dziura_sampler::run` (jittered pacing, torn-stack rereads,
//! exec re-attach) into the same model every other view reads.

use std::cell::{Cell, RefCell};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use dziura_model::Metadata;
use dziura_sampler::{attach, Options, Progress, Recorder, ThreadFilter};
use dziura_table::{Restriction, SortSpec, ViewOptions};
use pyo3::prelude::*;

use super::args::{rate, refresh_seconds, seconds, sort_key};
use super::CliError;

#[derive(Args, Debug)]
pub struct TopArgs {
    /// The process to watch
    #[arg(short, long)]
    pid: i32,
    /// Samples per second (up to 100000)
    #[arg(short, long, default_value_t = 100.0, value_parser = rate)]
    rate: f64,
    /// Seconds between screen refreshes (at least 0.05)
    #[arg(long, default_value_t = 1.0, value_parser = refresh_seconds)]
    delay: f64,
    /// Count threads that are waiting, too
    #[arg(short, long)]
    idle: bool,
    /// Count only the thread holding the GIL
    #[arg(short, long)]
    gil: bool,
    /// Count only this thread (a name or a native thread id)
    #[arg(long, value_name = "NAME|TID")]
    thread: Option<String>,
    /// Order of the table of every function: own (tottime), total (cumulative), or any pstats
    /// sort key (calls, name, filename, line, ...)
    #[arg(short, long, default_value = "own", value_parser = sort_key)]
    sort: SortSpec,
    /// Start on the table of every function instead of "your code first" (key a)
    #[arg(short, long)]
    all: bool,
    /// A directory of your own code (repeatable; also DZIURA_OWN; default: anything not
    /// installed or stdlib)
    #[arg(long, value_name = "DIR")]
    own: Vec<PathBuf>,
    /// Stop after this many seconds
    #[arg(short, long, value_parser = seconds)]
    duration: Option<f64>,
    /// Print each refresh below the last instead of redrawing (for logs and pipes)
    #[arg(long)]
    no_redraw: bool,
}

/// The table keys: (key, pstats sort key, what the key line calls it).
const SORT_KEYS: &[(char, &str, &str)] = &[
    ('o', "tottime", "own"),
    ('t', "cumulative", "total"),
    ('c', "calls", "samples"),
    ('n', "name", "name"),
    ('f', "filename", "file"),
    ('l', "line", "line"),
];

/// What the screen shows; changed by keys between refreshes.
struct View {
    all: bool,
    sort: SortSpec,
    reset: bool,
    quit: bool,
}

impl View {
    /// Applies one key; whether the screen should be drawn again at once.
    fn key(&mut self, k: KeyEvent) -> bool {
        if k.kind != KeyEventKind::Press {
            return false;
        }
        let ctrl_c = k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
        match k.code {
            _ if ctrl_c => self.quit = true,
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('a') => self.all = !self.all,
            KeyCode::Char('y') => self.all = false,
            KeyCode::Char('r') => self.reset = true,
            KeyCode::Char(c) => match SORT_KEYS.iter().find(|(k, ..)| *k == c) {
                Some((_, key, _)) => {
                    self.sort = SortSpec::parse(&[key]).expect("a pstats sort key");
                    self.all = true;
                }
                None => return false,
            },
            _ => return false,
        }
        true
    }
}

/// The terminal while `top` redraws: raw mode (single keys, no echo) on the alternate screen,
/// both undone on drop, whatever ends the loop.
struct Screen {
    raw: bool,
    redraw: bool,
}

impl Screen {
    fn new(no_redraw: bool) -> Screen {
        let redraw = std::io::stdout().is_terminal() && !no_redraw;
        let raw = std::io::stdin().is_terminal() && terminal::enable_raw_mode().is_ok();
        if redraw {
            let _ = execute!(
                std::io::stdout(),
                terminal::EnterAlternateScreen,
                cursor::Hide
            );
        }
        Screen { raw, redraw }
    }

    /// The keys pressed since the last call (none when stdin is not a terminal).
    fn keys(&self) -> Vec<KeyEvent> {
        let mut out = Vec::new();
        while self.raw && event::poll(Duration::ZERO).unwrap_or(false) {
            if let Ok(Event::Key(k)) = event::read() {
                out.push(k);
            }
        }
        out
    }

    /// Rows the screen has room for.
    fn rows(&self) -> usize {
        terminal::size().map_or(40, |(_, rows)| rows as usize)
    }

    fn draw(&self, py: Python<'_>, text: &str) -> Result<(), CliError> {
        if !self.redraw {
            crate::views::write_stdout(py, &format!("{text}\n"))?;
            let _ = py
                .import("sys")
                .and_then(|m| m.getattr("stdout")?.call_method0("flush"));
            return Ok(());
        }
        // Raw mode turns off the terminal's newline translation.
        let text = text.replace('\n', "\r\n");
        let mut out = std::io::stdout().lock();
        let _ = execute!(
            out,
            cursor::MoveTo(0, 0),
            terminal::Clear(terminal::ClearType::All)
        );
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        Ok(())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if self.redraw {
            let _ = execute!(
                std::io::stdout(),
                cursor::Show,
                terminal::LeaveAlternateScreen
            );
        }
        if self.raw {
            let _ = terminal::disable_raw_mode();
        }
    }
}

/// `dziura top`: attaches, then samples and redraws until `q`, Ctrl-C, `-d` or the target's exit.
pub fn top(py: Python<'_>, args: TopArgs) -> Result<i32, CliError> {
    let mut spy = attach(args.pid, Duration::from_millis(200))?;
    let pid = args.pid;
    let own = crate::views::own_options(py, &args.own)?;
    let opts = Options {
        rate: args.rate,
        duration: args.duration.map(Duration::from_secs_f64),
        idle: args.idle,
        gil_only: args.gil,
        threads: match &args.thread {
            Some(t) => ThreadFilter::Named(t.clone()),
            None => ThreadFilter::All,
        },
        timeline: false,
        subprocesses: false,
        // Keys are answered within this; the screen is redrawn every --delay.
        tick: Duration::from_millis(50),
    };
    let version = spy.interpreter.version_string();
    let screen = Screen::new(args.no_redraw);
    let view = RefCell::new(View {
        all: args.all,
        sort: args.sort.clone(),
        reset: false,
        quit: false,
    });
    let interrupted = Cell::new(false);
    let draw_now = Cell::new(true);
    let mut last_draw: Option<Instant> = None;
    let mut since = Instant::now();
    let failed = RefCell::new(None);
    let mut recorder = Recorder::new(pid, 1.0 / args.rate).without_timeline();
    let (_, last) = dziura_sampler::run(
        pid,
        Some(&mut spy),
        &opts,
        &mut recorder,
        || {
            if py.check_signals().is_err() {
                interrupted.set(true);
            }
            for k in screen.keys() {
                if view.borrow_mut().key(k) {
                    draw_now.set(true);
                }
            }
            interrupted.get() || view.borrow().quit || failed.borrow().is_some()
        },
        |progress, rec| {
            let mut v = view.borrow_mut();
            if v.reset {
                v.reset = false;
                *rec = Recorder::new(pid, 1.0 / args.rate).without_timeline();
                since = Instant::now();
            }
            let due = last_draw.is_none_or(|t| t.elapsed().as_secs_f64() >= args.delay);
            if !(due || draw_now.replace(false)) {
                return;
            }
            last_draw = Some(Instant::now());
            let page = Page {
                pid,
                version: &version,
                progress,
                since,
                rows: screen.rows().saturating_sub(4).max(5),
            };
            let text = page.render(rec, &v, &own);
            if let Err(e) = screen.draw(py, &text) {
                *failed.borrow_mut() = Some(e);
            }
        },
    );
    drop(screen);
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    if last.samples == 0 && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(CliError::failed(format!(
            "process {pid} exited before a sample"
        )));
    }
    // Ctrl-C is how a piped `top` is stopped, as `q` is in a terminal: not a failure.
    Ok(0)
}

/// One screen of `top`.
struct Page<'a> {
    pid: i32,
    version: &'a str,
    progress: &'a Progress,
    /// When the counts started (the last reset).
    since: Instant,
    /// Lines of rows there is room for.
    rows: usize,
}

impl Page<'_> {
    fn render(&self, rec: &Recorder, view: &View, own: &dziura_formats::OwnOptions) -> String {
        let p = self.progress;
        let gil = match p.gil_holder {
            Some(tid) => format!(
                "{tid} ({})",
                rec.thread_label(tid)
                    .map(String::from)
                    .unwrap_or_else(|| dziura_sampler::thread_name(self.pid, tid))
            ),
            None => "-".into(),
        };
        let mut s = format!(
            "dziura top: pid {} (Python v{}) | {:.0} s | samples {}, errors {} | threads {}, active {}, GIL {gil}\n",
            self.pid,
            self.version,
            self.since.elapsed().as_secs_f64(),
            p.samples,
            p.errors,
            p.threads,
            p.active,
        );
        let profile = rec.snapshot(Metadata::default(), false);
        if !view.all {
            let ranking = dziura_own::rank(&profile, None, &own.classifier);
            let render = dziura_own::RenderOptions {
                limit: self.rows.saturating_sub(4).max(3),
                full_view_hint: "key a: every function".into(),
                ..own.render.clone()
            };
            s.push_str(&dziura_own::render(&ranking, &render));
            s.push_str("keys: a every function, r reset, q quit\n");
            return s;
        }
        let keys: Vec<String> = SORT_KEYS
            .iter()
            .map(|(k, _, what)| format!("{k} {what}"))
            .collect();
        s.push_str(&format!(
            "every function, sorted by {} (keys: {}, y your code first, r reset, q quit)\n",
            view.sort.description(),
            keys.join(", ")
        ));
        let graph = dziura_formats::relative_graph(
            &dziura_formats::call_graph(&profile, None),
            &own.render.root,
        );
        let table = dziura_table::stats_table(
            &graph,
            &ViewOptions {
                sort: Some(view.sort.clone()),
                restrictions: vec![Restriction::Count(self.rows.saturating_sub(6).max(3))],
                source: None,
            },
        );
        s.push_str(&table);
        s
    }
}
