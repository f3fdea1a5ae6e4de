//! Workflow commands printed on stdout: annotations, masks, groups.
//!
//! Escaping follows `@actions/core` (`command.ts`): in data `%`, `\r`, `\n`
//! are percent-encoded; in properties `:` and `,` are too.

use std::fmt;

/// Severity of an annotation, as the runner names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationLevel {
    Error,
    Warning,
    Notice,
}

impl AnnotationLevel {
    pub fn command(self) -> &'static str {
        match self {
            AnnotationLevel::Error => "error",
            AnnotationLevel::Warning => "warning",
            AnnotationLevel::Notice => "notice",
        }
    }
}

/// An annotation: `::error file=F,line=L,col=C,title=T::message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub level: AnnotationLevel,
    pub message: String,
    pub title: Option<String>,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub end_line: Option<usize>,
    pub end_col: Option<usize>,
}

impl Annotation {
    pub fn new(level: AnnotationLevel, message: impl Into<String>) -> Self {
        Annotation {
            level,
            message: message.into(),
            title: None,
            file: None,
            line: None,
            col: None,
            end_line: None,
            end_col: None,
        }
    }

    pub fn at(mut self, file: impl Into<String>, line: usize, col: usize) -> Self {
        self.file = Some(file.into());
        self.line = Some(line);
        self.col = Some(col);
        self
    }

    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
}

impl fmt::Display for Annotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut props: Vec<String> = Vec::new();
        if let Some(file) = &self.file {
            props.push(format!("file={}", escape_property(file)));
        }
        for (key, value) in [
            ("line", self.line),
            ("col", self.col),
            ("endLine", self.end_line),
            ("endColumn", self.end_col),
        ] {
            if let Some(v) = value {
                props.push(format!("{key}={v}"));
            }
        }
        if let Some(title) = &self.title {
            props.push(format!("title={}", escape_property(title)));
        }
        let sep = if props.is_empty() { "" } else { " " };
        write!(
            f,
            "::{}{}{}::{}",
            self.level.command(),
            sep,
            props.join(","),
            escape_data(&self.message)
        )
    }
}

/// Escapes a command's data (the part after the last `::`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `::add-mask::VALUE`: the runner replaces VALUE with `***` in every later log line.
pub fn add_mask(value: &str) -> String {
    format!("::add-mask::{}", escape_data(value))
}

/// `::group::TITLE`, closed by [`end_group`].
pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

pub fn end_group() -> &'static str {
    "::endgroup::"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_escapes_properties_and_data() {
        let a = Annotation::new(AnnotationLevel::Error, "50% done\nnext line")
            .at(".github/workflows/a,b.yml", 3, 7)
            .title("rule: x");
        assert_eq!(
            a.to_string(),
            "::error file=.github/workflows/a%2Cb.yml,line=3,col=7,title=rule%3A x::50%25 done%0Anext line"
        );
    }

    #[test]
    fn annotation_without_properties_has_no_space() {
        let a = Annotation::new(AnnotationLevel::Notice, "hi");
        assert_eq!(a.to_string(), "::notice::hi");
    }

    #[test]
    fn mask_and_group() {
        assert_eq!(add_mask("a\nb"), "::add-mask::a%0Ab");
        assert_eq!(group("Lint"), "::group::Lint");
        assert_eq!(end_group(), "::endgroup::");
    }
}
