//! A one-line text field that edits by characters and measures by display columns, so wide
//! characters (Korean, CJK, emoji) move the cursor by their real width.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextField {
    value: String,
    /// Cursor position in chars (not bytes), 0..=char count.
    cursor: usize,
}

/// What a key did to the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Changed,
    Moved,
    /// Not an editing key; the caller decides (enter, esc, tab…).
    Ignored,
}

impl TextField {
    pub fn new(value: &str) -> Self {
        TextField {
            value: value.to_string(),
            cursor: value.chars().count(),
        }
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn set(&mut self, value: &str) {
        *self = TextField::new(value);
    }

    fn byte_at(&self, char_idx: usize) -> usize {
        self.value
            .char_indices()
            .nth(char_idx)
            .map(|(b, _)| b)
            .unwrap_or(self.value.len())
    }

    fn len(&self) -> usize {
        self.value.chars().count()
    }

    pub fn insert(&mut self, c: char) {
        let at = self.byte_at(self.cursor);
        self.value.insert(at, c);
        self.cursor += 1;
    }

    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars().filter(|c| !c.is_control()) {
            self.insert(c);
        }
    }

    fn remove_range(&mut self, from: usize, to: usize) {
        let (a, b) = (self.byte_at(from), self.byte_at(to));
        self.value.replace_range(a..b, "");
        self.cursor = from;
    }

    /// Start of the word before the cursor (spaces first, then non-spaces), as shells do.
    fn word_start(&self) -> usize {
        let chars: Vec<char> = self.value.chars().collect();
        let mut i = self.cursor;
        while i > 0 && chars[i - 1].is_whitespace() {
            i -= 1;
        }
        while i > 0 && !chars[i - 1].is_whitespace() {
            i -= 1;
        }
        i
    }

    /// Applies an editing key (readline-style bindings included).
    pub fn handle(&mut self, key: KeyEvent) -> Edit {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('a') if ctrl => self.move_to(0),
            KeyCode::Char('e') if ctrl => self.move_to(self.len()),
            KeyCode::Char('u') if ctrl => {
                self.remove_range(0, self.cursor);
                Edit::Changed
            }
            KeyCode::Char('k') if ctrl => {
                self.remove_range(self.cursor, self.len());
                Edit::Changed
            }
            KeyCode::Char('w') if ctrl => {
                let start = self.word_start();
                self.remove_range(start, self.cursor);
                Edit::Changed
            }
            KeyCode::Char(_) if ctrl => Edit::Ignored,
            KeyCode::Char(c) => {
                self.insert(c);
                Edit::Changed
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.remove_range(self.cursor - 1, self.cursor);
                Edit::Changed
            }
            KeyCode::Delete if self.cursor < self.len() => {
                self.remove_range(self.cursor, self.cursor + 1);
                self.cursor = self.cursor.min(self.len());
                Edit::Changed
            }
            KeyCode::Backspace | KeyCode::Delete => Edit::Moved,
            KeyCode::Left => self.move_to(self.cursor.saturating_sub(1)),
            KeyCode::Right => self.move_to((self.cursor + 1).min(self.len())),
            KeyCode::Home => self.move_to(0),
            KeyCode::End => self.move_to(self.len()),
            _ => Edit::Ignored,
        }
    }

    fn move_to(&mut self, c: usize) -> Edit {
        self.cursor = c;
        Edit::Moved
    }

    /// Columns from the start of the text to the cursor.
    pub fn cursor_column(&self) -> usize {
        self.value[..self.byte_at(self.cursor)].width()
    }

    /// The part of the text that fits in `width` columns with the cursor visible, and the
    /// cursor's column inside that part. Scrolls horizontally by whole characters so a wide
    /// character is never cut in half.
    pub fn window(&self, width: usize) -> (String, usize) {
        if width == 0 {
            return (String::new(), 0);
        }
        let chars: Vec<char> = self.value.chars().collect();
        // Leave one column for the cursor after the last character.
        let mut start = 0;
        let mut col = self.cursor_column();
        while col + 1 > width && start < self.cursor {
            col -= chars[start].width().unwrap_or(0);
            start += 1;
        }
        let mut shown = String::new();
        let mut used = 0;
        for c in &chars[start..] {
            let w = c.width().unwrap_or(0);
            if used + w > width {
                break;
            }
            shown.push(*c);
            used += w;
        }
        (shown, col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(s: &str) -> TextField {
        let mut f = TextField::default();
        for c in s.chars() {
            f.handle(key(KeyCode::Char(c)));
        }
        f
    }

    #[test]
    fn wide_characters_move_the_cursor_two_columns() {
        let mut f = typed("배포 ok");
        assert_eq!(f.value(), "배포 ok");
        assert_eq!(f.cursor_column(), 7);
        for _ in 0..3 {
            f.handle(key(KeyCode::Left));
        }
        assert_eq!(f.cursor_column(), 4);
        f.handle(key(KeyCode::Backspace));
        assert_eq!(f.value(), "배 ok");
        assert_eq!(f.cursor_column(), 2);
        f.handle(key(KeyCode::Char('완')));
        assert_eq!(f.value(), "배완 ok");
        assert_eq!(f.cursor_column(), 4);
    }

    #[test]
    fn delete_and_readline_keys() {
        let mut f = typed("hello big world");
        f.handle(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(f.value(), "hello big ");
        f.handle(key(KeyCode::Home));
        f.handle(key(KeyCode::Delete));
        assert_eq!(f.value(), "ello big ");
        f.handle(KeyEvent::new(KeyCode::Char('k'), KeyModifiers::CONTROL));
        assert_eq!(f.value(), "");
        // Editing an empty field is harmless.
        assert_eq!(f.handle(key(KeyCode::Backspace)), Edit::Moved);
        assert_eq!(f.handle(key(KeyCode::Enter)), Edit::Ignored);
    }

    #[test]
    fn window_keeps_the_cursor_visible_without_splitting_wide_chars() {
        let f = typed("프로젝트 배포 완료");
        let (shown, col) = f.window(8);
        assert!(shown.width() <= 8, "{shown}");
        assert_eq!(col, shown.width());
        assert!(shown.ends_with("완료"), "{shown}");
        let (short, col) = typed("ab").window(10);
        assert_eq!((short.as_str(), col), ("ab", 2));
    }
}
