//! An interactive SVG flame graph drawn by inferno from the folded stacks: hover details,
//! click to zoom and search (Ctrl-F) come with inferno's embedded script.

use dziura_model::Profile;
use inferno::flamegraph::{color, Direction, Options, Palette};

use crate::{collapsed, title, CollapsedOptions, FormatError};

#[derive(Clone, Debug)]
pub struct FlamegraphOptions {
    /// The heading; `None` names the profiled command.
    pub title: Option<String>,
    /// The line under the heading; `None` says how many samples were taken how often.
    pub subtitle: Option<String>,
    /// An icicle graph: roots at the top, growing down.
    pub inverted: bool,
    /// Frames narrower than this many pixels are left out (keeps big profiles small).
    pub min_width: f64,
    /// What one count is, in the hover text.
    pub count_name: String,
    pub collapsed: CollapsedOptions,
}

impl Default for FlamegraphOptions {
    fn default() -> Self {
        FlamegraphOptions {
            title: None,
            subtitle: None,
            inverted: false,
            min_width: 0.1,
            count_name: "samples".into(),
            collapsed: CollapsedOptions::default(),
        }
    }
}

/// The SVG document.
pub fn write(profile: &Profile, opts: &FlamegraphOptions) -> Result<Vec<u8>, FormatError> {
    let stacks = collapsed::stacks(profile, &opts.collapsed)
        .map_err(|_| FormatError::NeedsCallTimeline("flame graphs"))?;
    if stacks.is_empty() {
        return Err(FormatError::NoSamples("flame graph"));
    }
    let lines: Vec<String> = stacks
        .iter()
        .map(|(s, n)| format!("{} {n}", xml_text(s)))
        .collect();
    let mut o = Options::default();
    o.title = xml_text(&opts.title.clone().unwrap_or_else(|| title(profile)));
    o.subtitle = opts
        .subtitle
        .clone()
        .or_else(|| subtitle(profile))
        .map(|s| xml_text(&s));
    o.direction = if opts.inverted {
        Direction::Inverted
    } else {
        Direction::Straight
    };
    o.min_width = opts.min_width;
    o.count_name = if profile.traced_calls().is_some() {
        "ns".into()
    } else {
        opts.count_name.clone()
    };
    // Site-packages, the standard library and the program's own code each get a colour family;
    // hashing keeps a function's colour the same from one graph to the next.
    o.colors = Palette::Multi(color::MultiPalette::Python);
    o.hash = true;
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut o, lines.iter().map(String::as_str), &mut svg)?;
    Ok(svg)
}

/// `text` with the characters XML 1.0 forbids (controls other than tab, LF and CR, which a
/// function name may hold) shown as U+FFFD, so the SVG stays well-formed.
fn xml_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

fn subtitle(profile: &Profile) -> Option<String> {
    if let Some(calls) = profile.traced_calls() {
        let mut text = format!("{} calls traced, widths are ns of wall time", calls.calls());
        if calls.truncated_at_ns.is_some() {
            text.push_str(&format!(
                " (truncated: {} later calls not recorded)",
                calls.dropped_calls
            ));
        }
        return Some(text);
    }
    let s = profile.samples.as_ref()?;
    let mut text = format!("{} samples", s.total());
    if s.interval > 0.0 {
        text.push_str(&format!(", one every {} ms", fmt_ms(s.interval)));
    }
    if !profile.meta.python_version.is_empty() {
        text.push_str(&format!(", Python {}", profile.meta.python_version));
    }
    Some(text)
}

fn fmt_ms(seconds: f64) -> String {
    let ms = format!("{:.3}", seconds * 1e3);
    ms.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;
    use quick_xml::events::Event;

    /// Parses the whole document (so bad escaping fails) and returns every `<title>` text.
    fn titles(svg: &[u8]) -> Vec<String> {
        let mut r = quick_xml::Reader::from_reader(svg);
        let mut buf = Vec::new();
        let (mut out, mut in_title) = (Vec::new(), false);
        loop {
            match r.read_event_into(&mut buf).expect("well-formed SVG") {
                Event::Start(e) if e.name().as_ref() == b"title" => {
                    in_title = true;
                    out.push(String::new());
                }
                Event::End(e) if e.name().as_ref() == b"title" => in_title = false,
                Event::Text(t) if in_title => {
                    out.last_mut().unwrap().push_str(&t.decode().unwrap());
                }
                Event::GeneralRef(r) if in_title => {
                    let c = r.resolve_char_ref().unwrap().map(String::from);
                    let s = c.unwrap_or_else(|| {
                        match r.decode().unwrap().as_ref() {
                            "lt" => "<",
                            "gt" => ">",
                            "amp" => "&",
                            "quot" => "\"",
                            "apos" => "'",
                            other => panic!("entity {other}"),
                        }
                        .to_string()
                    });
                    out.last_mut().unwrap().push_str(&s);
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        out
    }

    #[test]
    fn characters_xml_forbids_are_replaced() {
        assert_eq!(
            xml_text("nul\0byte esc\x1b[31m\x0c"),
            "nul\u{fffd}byte esc\u{fffd}[31m\u{fffd}"
        );
        assert_eq!(xml_text("tab\tkept"), "tab\tkept");
    }

    #[test]
    fn svg_is_well_formed_with_names_escaped_and_script_kept() {
        let svg = write(&testdata::sampled(), &FlamegraphOptions::default()).unwrap();
        let text = String::from_utf8(svg.clone()).unwrap();
        assert!(text.starts_with("<?xml"));
        assert!(text.contains("app.py --fast"), "title from the command");
        assert!(text.contains("11 samples, one every 10 ms, Python 3.13.1"));
        // inferno's script: search, zoom and the details line.
        assert!(text.contains("function search("), "search");
        assert!(text.contains("function zoom("), "zoom");
        assert!(text.contains("id=\"details\""), "details");
        let titles = titles(&svg);
        assert!(
            titles
                .iter()
                .any(|t| t.starts_with("odd:name <&> \"q\" 'x' (work.py:21) (2 samples")),
            "{titles:?}"
        );
        assert!(titles
            .iter()
            .any(|t| t.starts_with("{built-in method time.sleep} (2 samples")));
        assert!(titles.iter().any(|t| t.starts_with("all (11 samples")));
    }

    #[test]
    fn options_reach_the_svg() {
        let opts = FlamegraphOptions {
            title: Some("Hot <loop> & co".into()),
            subtitle: Some("run 7".into()),
            inverted: true,
            count_name: "ticks".into(),
            ..Default::default()
        };
        let svg = write(&testdata::sampled(), &opts).unwrap();
        let text = String::from_utf8(svg.clone()).unwrap();
        assert!(text.contains("Hot &lt;loop&gt; &amp; co"));
        assert!(text.contains("run 7"));
        assert!(text.contains("ticks"));
        assert!(text.contains("inverted = true") || text.contains("var inverted = true"));
        titles(&svg);
    }

    #[test]
    fn tracing_profile_is_refused() {
        let e = write(&testdata::traced(), &FlamegraphOptions::default()).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("flame graphs need a sampling profile"));
    }
}
