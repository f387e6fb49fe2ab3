//! The compose form (`s`, and `e` on a search hit): channel, author and text fields, turned
//! into a post or an edit for the write model, checked by the write side's own rules first so
//! that a mistake keeps the form open with the reason.

use crossterm::event::{KeyCode, KeyEvent};

use crate::event::extract_mentions;
use crate::ops::{EditMessage, PostMessage, Write};

use super::text_input::{Edit, TextField};

#[derive(Debug, Clone, PartialEq)]
pub enum ComposeKind {
    New,
    /// Editing an existing message: its id and channel are fixed.
    Edit {
        message_id: String,
        channel_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Channel,
    Author,
    Text,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComposeForm {
    pub kind: ComposeKind,
    pub channel: TextField,
    pub author: TextField,
    pub text: TextField,
    pub focus: Field,
    /// Why the last submit was refused ("text is empty").
    pub error: Option<String>,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq)]
pub enum FormOutcome {
    Editing,
    Cancel,
    Submit(Write),
}

impl ComposeForm {
    /// A new message; the text field has focus so `s`, type, `enter` sends.
    pub fn new_message(channel: &str, author: &str) -> Self {
        ComposeForm {
            kind: ComposeKind::New,
            channel: TextField::new(channel),
            author: TextField::new(author),
            text: TextField::default(),
            focus: Field::Text,
            error: None,
        }
    }

    pub fn edit(message_id: &str, channel_id: &str, editor: &str, content: &str) -> Self {
        ComposeForm {
            kind: ComposeKind::Edit {
                message_id: message_id.to_string(),
                channel_id: channel_id.to_string(),
            },
            channel: TextField::new(channel_id),
            author: TextField::new(editor),
            text: TextField::new(content),
            focus: Field::Text,
            error: None,
        }
    }

    /// The fields a person can move to (an edit cannot change the channel).
    fn fields(&self) -> &'static [Field] {
        match self.kind {
            ComposeKind::New => &[Field::Channel, Field::Author, Field::Text],
            ComposeKind::Edit { .. } => &[Field::Author, Field::Text],
        }
    }

    fn move_focus(&mut self, forward: bool) {
        let fields = self.fields();
        let i = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        let n = fields.len();
        self.focus = fields[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    pub fn field_mut(&mut self, field: Field) -> &mut TextField {
        match field {
            Field::Channel => &mut self.channel,
            Field::Author => &mut self.author,
            Field::Text => &mut self.text,
        }
    }

    pub fn mentions(&self) -> Vec<String> {
        extract_mentions(self.text.value())
    }

    pub fn handle(&mut self, key: KeyEvent) -> FormOutcome {
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancel,
            KeyCode::Tab | KeyCode::Down => self.move_focus(true),
            KeyCode::BackTab | KeyCode::Up => self.move_focus(false),
            // Enter on the text sends; on an earlier field it moves on, like a web form.
            KeyCode::Enter if self.focus == Field::Text => return self.submit(),
            KeyCode::Enter => self.move_focus(true),
            _ => {
                let focus = self.focus;
                if self.field_mut(focus).handle(key) == Edit::Changed {
                    self.error = None;
                }
            }
        }
        FormOutcome::Editing
    }

    /// Validates and builds the event; an invalid form stays open with the reason.
    pub fn submit(&mut self) -> FormOutcome {
        let channel = self.channel.value().trim().to_string();
        let author = self.author.value().trim().to_string();
        let text = self.text.value().trim().to_string();
        let missing = if text.is_empty() {
            Some("text is empty")
        } else if channel.is_empty() {
            Some("channel is empty")
        } else if author.is_empty() {
            Some("author is empty")
        } else {
            None
        };
        if let Some(m) = missing {
            self.error = Some(m.to_string());
            return FormOutcome::Editing;
        }
        let write = match &self.kind {
            ComposeKind::New => Write::Post(PostMessage {
                channel_id: channel,
                author_id: author,
                content: text,
                attachments: vec![],
            }),
            ComposeKind::Edit { message_id, .. } => Write::Edit {
                message_id: message_id.clone(),
                edit: EditMessage {
                    content: text,
                    editor_id: Some(author),
                },
            },
        };
        if let Err(e) = write.check() {
            self.error = Some(e.to_string());
            return FormOutcome::Editing;
        }
        FormOutcome::Submit(write)
    }
}
