//! Positions: the protocol counts lines and UTF-16 code units, the compiler bytes.

use lsp_types::{Position, Range};

/// Line starts of a text, to convert between byte offsets and LSP positions.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
    /// `units_at_checkpoint[k]`: UTF-16 code units before byte `k * CHECKPOINT`. A conversion
    /// counts at most one checkpoint's worth of text, so the semantic tokens of a megabyte-long
    /// line cost linear time, not quadratic.
    units_at_checkpoint: Vec<usize>,
}

/// Bytes between two UTF-16 checkpoints of a [`LineIndex`].
const CHECKPOINT: usize = 1024;

/// UTF-16 code units of the characters that start in `bytes`: a four-byte UTF-8 character is a
/// surrogate pair, every other character one unit, continuation bytes nothing. Correct on any
/// byte range, whether or not it starts on a character boundary.
fn units(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0xBF => 0,
            0xF0..=0xFF => 2,
            _ => 1,
        })
        .sum()
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let mut units_at_checkpoint = vec![0];
        let mut total = 0;
        for chunk in text.as_bytes().chunks(CHECKPOINT) {
            total += units(chunk);
            units_at_checkpoint.push(total);
        }
        LineIndex {
            starts,
            units_at_checkpoint,
        }
    }

    /// UTF-16 code units before byte `offset` (at most the text's length).
    fn units_before(&self, text: &str, offset: usize) -> usize {
        let checkpoint = offset / CHECKPOINT;
        let counted = self
            .units_at_checkpoint
            .get(checkpoint)
            .copied()
            .unwrap_or(0);
        counted
            + units(
                text.as_bytes()
                    .get(checkpoint * CHECKPOINT..offset)
                    .unwrap_or(&[]),
            )
    }

    /// The position of a byte offset (clamped to the text, and to a character boundary).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0).min(offset);
        let character = self.units_before(text, offset) - self.units_before(text, start);
        Position::new(
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(character).unwrap_or(u32::MAX),
        )
    }

    /// The byte offset of a position; past the end of a line means its end.
    pub fn offset(&self, text: &str, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else {
            return text.len();
        };
        let end = self
            .starts
            .get(position.line as usize + 1)
            .map_or(text.len(), |e| e - 1);
        let end = end.max(start);
        // Skip whole checkpoints of the line that lie before the position, then walk.
        let wanted = self.units_before(text, start) + position.character as usize;
        let first = start.div_ceil(CHECKPOINT);
        let last = end / CHECKPOINT;
        let skipped = match self.units_at_checkpoint.get(first..=last) {
            Some(checkpoints) if first <= last => {
                let before = checkpoints.partition_point(|&units| units <= wanted);
                before
                    .checked_sub(1)
                    .map_or(start, |k| (first + k) * CHECKPOINT)
            }
            _ => start,
        };
        let mut from = skipped.max(start);
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        let mut units = self.units_before(text, from);
        let line = text.get(from..end).unwrap_or("");
        for (i, c) in line.char_indices() {
            if units >= wanted {
                return from + i;
            }
            units += c.len_utf16();
        }
        end
    }

    pub fn range(&self, text: &str, start: usize, end: usize) -> Range {
        Range::new(self.position(text, start), self.position(text, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_round_trip() {
        let text = "a\n// é𝄞 x\nbc";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap_or(0);
        // `// ` is 3 units, `é` 1, `𝄞` 2 (a surrogate pair), the space 1.
        assert_eq!(index.position(text, x), Position::new(1, 7));
        assert_eq!(index.offset(text, Position::new(1, 7)), x);
        assert_eq!(index.offset(text, Position::new(2, 99)), text.len());
        assert_eq!(index.offset(text, Position::new(9, 0)), text.len());
        assert_eq!(index.position(text, 999), Position::new(2, 2));
    }

    /// The indexed conversions agree with counting from the line start, on long lines of
    /// mixed one- to four-byte characters, across checkpoints.
    #[test]
    fn checkpoints_agree_with_counting() {
        let pieces = ["a", "é", "€", "𝄞", "\n", "bcd"];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut text = String::new();
        for _ in 0..6000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Line breaks rare, so lines span several checkpoints.
            let piece = pieces[(state % 6) as usize];
            if piece != "\n" || state.is_multiple_of(500) {
                text.push_str(piece);
            }
        }
        let index = LineIndex::new(&text);
        for (offset, _) in text.char_indices().step_by(7) {
            let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
            let line = text[..offset].matches('\n').count() as u32;
            let character: usize = text[line_start..offset].chars().map(char::len_utf16).sum();
            let expected = Position::new(line, character as u32);
            assert_eq!(index.position(&text, offset), expected, "at {offset}");
            assert_eq!(
                index.offset(&text, expected),
                offset,
                "back from {expected:?}"
            );
        }
    }
}
