//! The tree as text, for `dziura show --tree`: a header saying what the numbers are, then one
//! line per node (seconds, share of the total, name, file:line), drawn with box characters.

use std::fmt::Write as _;

use crate::{Cut, Label, Node, Source, Tree};

/// The most node lines printed: past this a tree is no longer read, only scrolled.
pub const MAX_LINES: usize = 5000;

/// The tree as text; `color` adds ANSI colours (red for the hottest shares).
pub fn render(tree: &Tree, color: bool) -> String {
    let hidden_note = if tree.library_hidden {
        "; library, stdlib and built-in frames hidden (--all shows them)"
    } else {
        ""
    };
    let total = tree.root.value;
    let mut out = String::new();
    let _ = match tree.source {
        Source::Timeline { calls } => writeln!(
            out,
            "Call tree of a traced timeline: {calls} calls, {total:.3} s in all{hidden_note}"
        ),
        Source::Samples { samples, interval } => writeln!(
            out,
            "Call tree of a sampled profile: {samples} samples, every {:.3} ms, {total:.3} s in all{hidden_note}",
            interval * 1000.0
        ),
        Source::Edges => writeln!(
            out,
            "Call tree of a traced profile, built from caller→callee totals (a function called from several places has one total: its calls' time is split among those places in proportion, an estimate; trace with --timeline for the exact tree): {total:.3} s in all{hidden_note}"
        ),
    };
    let mut p = Printer {
        tree,
        total,
        color,
        out,
        lines: 0,
    };
    for c in &tree.root.children {
        p.node(c, "", "");
    }
    if tree.root.children.is_empty() {
        p.out
            .push_str("(nothing to show: no calls above the --min-percent share");
        p.out.push_str(if tree.library_hidden {
            "; try --all)\n"
        } else {
            ")\n"
        });
    }
    if p.lines > MAX_LINES {
        let _ = writeln!(
            p.out,
            "... tree cut at {MAX_LINES} lines; raise --min-percent to see the rest"
        );
    }
    p.out
}

struct Printer<'a> {
    tree: &'a Tree,
    total: f64,
    color: bool,
    out: String,
    /// Lines printed (and counted past the limit).
    lines: usize,
}

fn location(n: &Node) -> String {
    match &n.label {
        Label::Func(k) if k.is_builtin() => "[built-in]".into(),
        Label::Func(k) => format!("{}:{}", k.file, k.line),
        _ => String::new(),
    }
}

fn name(n: &Node) -> String {
    match &n.label {
        Label::Func(k) if k.is_builtin() => k.to_string(),
        Label::Func(k) => k.name.clone(),
        Label::Thread(t) => format!("thread {t}"),
        Label::All => "all".into(),
    }
}

impl Printer<'_> {
    fn node(&mut self, n: &Node, lead: &str, branch: &str) {
        self.lines += 1;
        if self.lines > MAX_LINES {
            return;
        }
        let share = if self.total > 0.0 {
            n.value / self.total
        } else {
            0.0
        };
        let secs = n.value;
        let name = name(n);
        let rec = if n.recursive { " ↺ recursive" } else { "" };
        if self.color {
            let c = match share {
                s if s >= 0.6 => "\x1b[31m",
                s if s >= 0.3 => "\x1b[33m",
                s if s >= 0.1 => "\x1b[32m",
                _ => "\x1b[2m",
            };
            let _ = writeln!(
                self.out,
                "{lead}{branch}{c}{secs:.3}s {:5.1}%\x1b[0m \x1b[1m{name}\x1b[0m  \x1b[2m{}\x1b[0m{}",
                share * 100.0,
                location(n),
                if rec.is_empty() {
                    String::new()
                } else {
                    format!("\x1b[35m{rec}\x1b[0m")
                }
            );
        } else {
            let _ = writeln!(
                self.out,
                "{lead}{branch}{secs:.3}s {:5.1}% {name}  {}{rec}",
                share * 100.0,
                location(n)
            );
        }
        // Two levels print at the left margin (a root and its calls), then each indents by
        // three.
        let next_lead = format!(
            "{lead}{}",
            match branch {
                "" => "",
                "├─ " => "│  ",
                _ => "   ",
            }
        );
        let note = match n.cut {
            Some(Cut::Depth) => Some(format!(
                "... deeper calls cut at {} levels (their time is in the line above)",
                self.tree.max_depth
            )),
            Some(Cut::Budget) => Some(format!(
                "... more calls not shown: the tree's {}-node limit (their time is in the line above; raise --min-percent)",
                self.tree.max_nodes
            )),
            None => None,
        };
        let last = n.children.len().saturating_sub(1);
        for (i, c) in n.children.iter().enumerate() {
            let b = if i == last && note.is_none() {
                "└─ "
            } else {
                "├─ "
            };
            self.node(c, &next_lead, b);
        }
        if let Some(note) = note {
            self.lines += 1;
            if self.lines <= MAX_LINES {
                let _ = writeln!(self.out, "{next_lead}└─ {note}");
            }
        }
    }
}
