//! Reading what a user names without trusting its size: a file or a line past its bound is
//! one clear error, never an allocation as large as the input (`/dev/zero` included).

use std::io::{BufRead, Read};
use std::path::Path;

use crate::Failure;

/// The whole of `path`, at most `max` bytes.
pub(crate) fn read_file(path: &Path, max: usize) -> Result<Vec<u8>, Failure> {
    let fail = |e: std::io::Error| Failure::from(format!("{}: {e}", path.display()));
    let mut bytes = Vec::new();
    std::fs::File::open(path).map_err(fail)?.take(max as u64 + 1).read_to_end(&mut bytes).map_err(fail)?;
    if bytes.len() > max {
        return Err(Failure::from(format!(
            "{}: longer than {max} bytes; not a file this command reads",
            path.display()
        )));
    }
    Ok(bytes)
}

/// [`read_file`] as UTF-8 text; `what` names the file's kind in the error.
pub(crate) fn read_text(path: &Path, max: usize, what: &str) -> Result<String, Failure> {
    String::from_utf8(read_file(path, max)?)
        .map_err(|_| Failure::from(format!("{}: not {what} (not UTF-8 text)", path.display())))
}

/// The next line of `reader` without its `\n` (a `\r` before it stays), at most `max`
/// bytes; `Ok(None)` at the end. A last line without a `\n` comes whole.
pub(crate) fn next_line(reader: &mut impl BufRead, max: usize) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = reader.by_ref().take(max as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > max {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a line is longer than {max} bytes")));
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "a line is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_past_its_bound_is_an_error_and_lines_within_it_come_whole() {
        let mut r = std::io::Cursor::new(b"abc\r\n\ndef".to_vec());
        assert_eq!(next_line(&mut r, 4).unwrap().as_deref(), Some("abc\r"));
        assert_eq!(next_line(&mut r, 4).unwrap().as_deref(), Some(""));
        assert_eq!(next_line(&mut r, 4).unwrap().as_deref(), Some("def"));
        assert_eq!(next_line(&mut r, 4).unwrap(), None);
        let mut long = std::io::Cursor::new(vec![b'x'; 100]);
        assert!(next_line(&mut long, 10).is_err());
        let mut zero = std::io::Read::take(std::io::repeat(0), 1 << 30);
        let mut zero = std::io::BufReader::new(&mut zero);
        assert!(next_line(&mut zero, 64).is_err(), "an endless line stops at the bound");
        assert!(next_line(&mut std::io::Cursor::new(vec![0xff, b'\n']), 10).is_err());
    }

    #[test]
    fn a_file_past_its_bound_is_refused() {
        assert!(read_file(Path::new("/dev/zero"), 1024).is_err_and(|f| f.message.contains("longer than 1024")));
        assert!(read_file(Path::new("/dev/null"), 0).is_ok_and(|b| b.is_empty()));
    }
}
