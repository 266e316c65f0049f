//! Reading a segment line by line through one large buffer: no allocation per line, a bound on
//! the length of a line, and the incomplete final line (a torn write) handed back apart.

use std::io::{self, Read};

/// The longest line a reader accepts (an entry is a few hundred bytes; its fields are bounded
/// by `MAX_FIELD_BYTES`).
pub const MAX_LINE: usize = 1 << 20;

const CHUNK: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LinesError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("a line is longer than {MAX_LINE} bytes")]
    TooLong,
}

/// The lines of a reader.
pub struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    scanned: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> Lines<R> {
    pub fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            buf: vec![0; CHUNK],
            start: 0,
            scanned: 0,
            end: 0,
            eof: false,
        }
    }

    /// The next complete line without its newline, or `None` at the end; then
    /// [`Lines::fragment`] holds what followed the last newline.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, LinesError> {
        loop {
            if let Some(offset) = find_newline(&self.buf[self.scanned..self.end]) {
                let begin = self.start;
                let newline = self.scanned + offset;
                self.start = newline + 1;
                self.scanned = self.start;
                return Ok(Some(&self.buf[begin..newline]));
            }
            self.scanned = self.end;
            if self.eof {
                return Ok(None);
            }
            if self.end - self.start > MAX_LINE {
                return Err(LinesError::TooLong);
            }
            self.fill()?;
        }
    }

    /// After [`Lines::next_line`] returned `None`: the bytes after the last newline (empty when
    /// the data ended with a newline).
    pub fn fragment(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.buf.len() - self.end < CHUNK {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < CHUNK {
                self.buf.resize(self.end + CHUNK, 0);
            }
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }
}

/// The index of the first `\n` in `hay`, eight bytes at a time (the classic zero-byte test on
/// a word XORed with newlines: in little-endian order the lowest flagged byte is a true match).
fn find_newline(hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut words = hay.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ NEWLINES;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let rest = words.remainder().iter().position(|&b| b == b'\n');
    rest.map(|i| base + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn collect(data: &[u8], step: usize) -> Result<(Vec<Vec<u8>>, Vec<u8>), LinesError> {
        let mut lines = Lines::new(Trickle { data, step });
        let mut out = Vec::new();
        while let Some(l) = lines.next_line()? {
            out.push(l.to_vec());
        }
        Ok((out, lines.fragment().to_vec()))
    }

    #[test]
    fn splits_on_newlines_whatever_the_read_sizes() -> Result<(), LinesError> {
        let data = b"a\n\nbcd\nlast";
        for step in [1, 2, 3, 7, 1000] {
            let (lines, fragment) = collect(data, step)?;
            assert_eq!(
                lines,
                vec![b"a".to_vec(), vec![], b"bcd".to_vec()],
                "{step}"
            );
            assert_eq!(fragment, b"last");
        }
        assert_eq!(collect(b"", 5)?, (vec![], vec![]));
        assert_eq!(collect(b"x\n", 5)?, (vec![b"x".to_vec()], vec![]));
        Ok(())
    }

    #[test]
    fn long_inputs_cross_the_buffer_edge() -> Result<(), LinesError> {
        let line = vec![b'x'; 1000];
        let mut data = Vec::new();
        for _ in 0..2000 {
            data.extend_from_slice(&line);
            data.push(b'\n');
        }
        let (lines, fragment) = collect(&data, 100_000)?;
        assert_eq!(lines.len(), 2000);
        assert!(lines.iter().all(|l| *l == line));
        assert!(fragment.is_empty());
        Ok(())
    }

    #[test]
    fn newline_search_matches_the_naive_one() {
        let mut hay = Vec::new();
        for i in 0..300u32 {
            // Every byte value, newlines at irregular places, bytes just above and below them.
            hay.push(if i % 37 == 5 || i % 11 == 0 {
                b'\n'
            } else {
                (i * 7 % 256) as u8
            });
        }
        for start in 0..hay.len() {
            for end in start..(start + 40).min(hay.len()) {
                let want = hay[start..end].iter().position(|&b| b == b'\n');
                assert_eq!(find_newline(&hay[start..end]), want, "{start}..{end}");
            }
        }
        let mut tricky = [0x0bu8; 16];
        tricky[9] = b'\n';
        assert_eq!(find_newline(&tricky), Some(9));
        assert_eq!(find_newline(&[0x8a; 16]), None);
    }

    #[test]
    fn an_endless_line_is_refused() {
        let data = vec![b'y'; MAX_LINE + CHUNK + 10];
        assert!(matches!(
            collect(&data, 64 * 1024),
            Err(LinesError::TooLong)
        ));
        let mut ok = vec![b'y'; MAX_LINE - 1];
        ok.push(b'\n');
        assert!(collect(&ok, 64 * 1024).is_ok_and(|(l, _)| l.len() == 1));
    }
}
