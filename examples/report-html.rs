//! Renders a recorded run's job summary and PR comment as HTML pages styled like GitHub's
//! markdown (GFM through comrak), for `scripts/screenshot-report` to photograph with headless
//! Chromium. `cargo run --example report-html -- RUN_JSON OUT_DIR` writes
//! `OUT_DIR/summary.html` and `OUT_DIR/comment.html`.
//!
//! GitHub draws the ```mermaid gantt block with Mermaid, which is not available offline here;
//! the page draws the same block as an SVG instead (a bar per task, a band per section, from
//! the block's own numbers), captioned as such.

use anyhow::Context;
use bluegreen::report::facts::ReportFacts;
use bluegreen::report::markdown::{render_comment, render_summary, Links};
use bluegreen::report::RunReport;
use std::path::PathBuf;

const STYLE: &str = r#"
body { font-family: -apple-system, "DejaVu Sans", sans-serif; font-size: 14px; line-height: 1.5;
       color: #1f2328; background: #fff; margin: 0; padding: 24px; width: 960px; }
h1, h2, h3 { border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; margin-top: 20px; }
h2 { font-size: 1.4em; } h3 { font-size: 1.15em; }
table { border-collapse: collapse; margin: 12px 0; display: block; overflow: auto; }
th, td { border: 1px solid #d1d9e0; padding: 5px 12px; }
th { background: #f6f8fa; font-weight: 600; }
tr:nth-child(2n) td { background: #f6f8fa; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 85%; background: #eff1f3;
       padding: .15em .35em; border-radius: 6px; }
pre { background: #f6f8fa; padding: 12px; border-radius: 6px; overflow: auto; font-size: 12px; }
pre code { background: none; padding: 0; }
blockquote { color: #59636e; border-left: .25em solid #d1d9e0; margin: 0; padding: 0 1em; }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
a { color: #0969da; text-decoration: none; }
.frame { border: 1px solid #d1d9e0; border-radius: 6px; padding: 8px 16px; }
.caption { color: #59636e; font-size: 12px; margin-bottom: 8px; }
"#;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: report-html RUN_JSON OUT_DIR";
    let run = PathBuf::from(args.next().context(usage)?);
    let out = PathBuf::from(args.next().context(usage)?);
    let text =
        std::fs::read_to_string(&run).with_context(|| format!("reading {}", run.display()))?;
    let report: RunReport = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a run.json", run.display()))?;
    let links = Links {
        run_url: Some("https://github.com/acme/shop/actions/runs/42".into()),
        report_dir: "bluegreen-report".into(),
        deployments_url: Some("https://github.com/acme/shop/deployments".into()),
    };
    let facts = ReportFacts::from_report(&report);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let pages = [
        (
            "summary.html",
            "Job summary",
            render_summary(&report, &facts, &links),
        ),
        (
            "comment.html",
            "Sticky PR comment",
            render_comment(&report, &facts, &links),
        ),
    ];
    for (name, caption, markdown) in pages {
        let path = out.join(name);
        std::fs::write(&path, page(caption, &markdown))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

fn page(caption: &str, markdown: &str) -> String {
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.autolink = true;
    options.extension.tasklist = true;
    // The summary's <details> blocks are raw HTML, which GitHub renders.
    options.render.r#unsafe = true;
    let mut body = comrak::markdown_to_html(markdown, &options);
    if let Some(chart) = mermaid_block(markdown) {
        body = replace_code_block(&body, &gantt_svg(chart));
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><style>{STYLE}</style></head>\
         <body><div class=\"caption\">{caption}, rendered from the run's markdown (GFM)</div>\
         <div class=\"frame\">{body}</div></body></html>"
    )
}

/// The text of the first ```mermaid block.
fn mermaid_block(markdown: &str) -> Option<&str> {
    let start = markdown.find("```mermaid\n")? + "```mermaid\n".len();
    let len = markdown[start..].find("```")?;
    Some(&markdown[start..start + len])
}

/// The HTML with the rendered ```mermaid code block replaced by `with`.
fn replace_code_block(html: &str, with: &str) -> String {
    let Some(code) = html.find("language-mermaid") else {
        return html.to_string();
    };
    let (Some(start), Some(end)) = (html[..code].rfind("<pre"), html[code..].find("</pre>")) else {
        return html.to_string();
    };
    format!(
        "{}{with}{}",
        &html[..start],
        &html[code + end + "</pre>".len()..]
    )
}

struct Task {
    section: String,
    name: String,
    tag: String,
    start: i64,
    end: i64,
}

/// The gantt block as an SVG: one row per task, grouped by section, on a shared time axis.
fn gantt_svg(chart: &str) -> String {
    let mut section = String::new();
    let mut tasks = Vec::new();
    for line in chart.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("section ") {
            section = name.to_string();
            continue;
        }
        let Some((name, spec)) = line.rsplit_once(" :") else {
            continue;
        };
        let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
        let (tag, times) = match parts.as_slice() {
            [tag, s, e] => (tag.to_string(), (s, e)),
            [s, e] => (String::new(), (s, e)),
            _ => continue,
        };
        if let (Ok(start), Ok(end)) = (times.0.parse::<i64>(), times.1.parse::<i64>()) {
            tasks.push(Task {
                section: section.clone(),
                name: name.to_string(),
                tag,
                start,
                end,
            });
        }
    }
    let (Some(t0), Some(t1)) = (
        tasks.iter().map(|t| t.start).min(),
        tasks.iter().map(|t| t.end).max(),
    ) else {
        return String::new();
    };
    let (label_w, chart_w, row_h) = (200.0, 680.0, 20.0);
    let span = (t1 - t0).max(1) as f64;
    let x = |t: i64| label_w + (t - t0) as f64 / span * chart_w;
    let height = 30.0 + row_h * tasks.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" \
         font-family=\"DejaVu Sans\" font-size=\"11\">",
        label_w + chart_w + 20.0
    );
    let mut last_section = None;
    for (i, task) in tasks.iter().enumerate() {
        let y = 4.0 + row_h * i as f64;
        if last_section != Some(&task.section) {
            svg += &format!(
                "<line x1=\"0\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#d1d9e0\"/>\
                 <text x=\"4\" y=\"{}\" font-weight=\"bold\">{}</text>",
                label_w + chart_w,
                y + 14.0,
                escape(&task.section)
            );
            last_section = Some(&task.section);
        }
        let fill = match task.tag.as_str() {
            "crit" => "#cf222e",
            "active" => "#d4a72c",
            "done" => "#8c959f",
            _ => "#0969da",
        };
        let (x0, x1) = (x(task.start), x(task.end).max(x(task.start) + 1.5));
        svg += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{x0:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{fill}\" rx=\"2\"/>",
            label_w - 6.0,
            y + 14.0,
            escape(&task.name),
            y + 3.0,
            x1 - x0,
            row_h - 6.0
        );
    }
    let axis_y = height - 8.0;
    for k in 0..=4 {
        let t = t0 + (span as i64) * k / 4;
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{axis_y}\" text-anchor=\"middle\" fill=\"#59636e\">+{:.1} s</text>",
            x(t),
            (t - t0) as f64 / 1000.0
        );
    }
    svg += "</svg>";
    format!(
        "<div>{svg}<div class=\"caption\">The timeline's ```mermaid gantt block, drawn from its own \
         numbers by examples/report-html.rs (GitHub draws it with Mermaid)</div></div>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
