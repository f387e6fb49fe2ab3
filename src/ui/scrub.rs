//! The last step of every frame. Text on the screen comes from anyone who can write to the
//! cluster: message contents, user and channel names, group and topic names, error texts.
//! Views escape what they show (`browse::view::safe_text`, `format::one_line`), and ratatui
//! drops C0/C1 controls, but a zero-width character such as U+202E (right-to-left override)
//! is appended to the previous cell and would reach the terminal, which may reorder the line
//! around it. Scrubbing the finished buffer covers every pane, present and future, in one
//! place.

use ratatui::buffer::Buffer;

use crate::browse::view::is_unsafe;

/// Removes controls and bidi formatting characters from every cell of `buf`.
pub fn scrub(buf: &mut Buffer) {
    for cell in buf.content.iter_mut() {
        let symbol = cell.symbol();
        // Nearly every cell is printable ASCII: nothing to look at.
        if symbol.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            continue;
        }
        if symbol.chars().any(is_unsafe) {
            let kept: String = symbol.chars().filter(|c| !is_unsafe(*c)).collect();
            cell.set_symbol(if kept.is_empty() { " " } else { &kept });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;

    #[test]
    fn bidi_and_controls_leave_every_cell_and_the_text_stays() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 6, 1));
        buf[(0, 0)].set_symbol("a\u{202E}");
        buf[(1, 0)].set_symbol("\u{2066}");
        buf[(2, 0)].set_symbol("e\u{301}"); // a combining accent is text: kept
        buf[(3, 0)].set_symbol("\u{1b}");
        buf[(4, 0)].set_symbol("한");
        scrub(&mut buf);
        let symbols: Vec<&str> = buf.content.iter().map(|c| c.symbol()).collect();
        assert_eq!(symbols, ["a", " ", "e\u{301}", " ", "한", " "]);
    }
}
