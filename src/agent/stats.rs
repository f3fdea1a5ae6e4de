//! HAProxy's `show stat` answer (CSV, first line `# pxname,svname,...`), read by the header's
//! column names rather than by position, so a HAProxy that adds or moves columns is still read
//! right. Pure text in, numbers out: fuzzed (`fuzz/fuzz_targets/show_stat.rs`).

/// The value of column `field` (`scur`, `stot`, `hrsp_5xx`, ...) in the row of
/// `proxy`/`server`. `None` when the answer has no header, no such column, no such row, or a
/// value that is not a number (an empty cell is `None` too).
pub fn server_field(csv: &str, proxy: &str, server: &str, field: &str) -> Option<u64> {
    let mut lines = csv.lines();
    let header = lines.next()?.strip_prefix("# ")?;
    let column = header.split(',').position(|c| c == field)?;
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|cells| cells.len() > 1 && cells[0] == proxy && cells[1] == server)
        .and_then(|cells| cells.get(column).and_then(|v| v.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot\n\
        app,BACKEND,0,0,3,9,,120\n\
        app,blue,0,0,2,5,,80\n\
        app,green,0,0,1,4,,40\n";

    #[test]
    fn fields_are_found_by_column_name_and_row() {
        assert_eq!(server_field(ANSWER, "app", "blue", "scur"), Some(2));
        assert_eq!(server_field(ANSWER, "app", "green", "stot"), Some(40));
        assert_eq!(server_field(ANSWER, "app", "green", "slim"), None);
        assert_eq!(server_field(ANSWER, "app", "red", "scur"), None);
        assert_eq!(server_field(ANSWER, "app", "blue", "nope"), None);
        assert_eq!(server_field("", "app", "blue", "scur"), None);
        assert_eq!(server_field("app,blue,0,0,2", "app", "blue", "scur"), None);
    }
}
