//! A linted file's text and the arithmetic between byte offsets and line/column positions.
//!
//! Every position the linter reports is 1-based, and columns count Unicode scalar values
//! (characters), the unit the YAML parser counts in and the one SARIF calls
//! `unicodeCodePoints`. Byte offsets are kept next to positions because `--fix` edits bytes.

/// A position in a file: 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// A half-open byte range `start..end` in a file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// One file's text with a line index.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown in findings: relative to the repository root, `/`-separated.
    pub path: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// The position of a byte offset (clamped to the text and to a character boundary).
    pub fn position(&self, offset: usize) -> Position {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line_index = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let line_start = self.line_starts[line_index];
        let column = self.text[line_start..offset].chars().count() + 1;
        Position {
            line: line_index + 1,
            column,
        }
    }

    /// The byte offset of a parser marker: 1-based line, 0-based column in characters.
    /// Returns `None` when the marker lies outside the text.
    pub fn offset_of(&self, line: usize, col0: usize) -> Option<usize> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let line_text = &self.text[start..self.line_end(start)];
        if col0 == line_text.chars().count() {
            return Some(start + line_text.len());
        }
        line_text.char_indices().nth(col0).map(|(i, _)| start + i)
    }

    /// The text of the 1-based line `line`, without its line ending.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = line.checked_sub(1).and_then(|i| self.line_starts.get(i)) else {
            return "";
        };
        self.text[start..self.line_end(start)].trim_end_matches('\r')
    }

    /// The offset of the end of the line that contains `offset` (before `\n`).
    pub fn end_of_line(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i)
    }

    fn line_end(&self, line_start: usize) -> usize {
        self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i)
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_from_one() {
        let f = SourceFile::new("a.yml", "ab\r\nçd: x\n".to_string());
        assert_eq!(f.position(0), Position { line: 1, column: 1 });
        let x = f.text.find('x').unwrap();
        assert_eq!(f.position(x), Position { line: 2, column: 5 });
        assert_eq!(f.offset_of(2, 4), Some(x));
        assert_eq!(f.offset_of(9, 0), None);
        assert_eq!(f.line_text(1), "ab");
        assert_eq!(f.line_text(2), "çd: x");
    }
}
