//! Analysis: an approximation of Elasticsearch's `standard` analyzer (Unicode word segmentation,
//! UAX #29, then lowercase), used both to index the content and to analyse query text.
//!
//! Invariant: indexing and querying go through the same [`analyze`], so a query term matches
//! exactly the tokens the content produced; token offsets are byte offsets into the input, which
//! the highlighter relies on.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Name under which [`StandardTokenizer`] is registered; it is recorded in the schema.
pub(super) const TOKENIZER: &str = "eventdeck_standard";
/// Elasticsearch's standard tokenizer splits longer tokens at this many characters.
const MAX_TOKEN_CHARS: usize = 255;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CharClass {
    Letter,
    Numeric,
    Katakana,
    /// Han and Hiragana: every character is a word of its own.
    Ideographic,
    Emoji,
    /// `_` and friends: join letters, digits and katakana.
    ExtendNumLet,
    /// Between two letters only (`:`, `·`).
    MidLetter,
    /// Between two digits only (`,`, `;`).
    MidNum,
    /// Between two letters or two digits (`.`, `’`).
    MidNumLet,
    SingleQuote,
    /// Combining marks, joiners, variation selectors, skin tones: part of the preceding char.
    Extend,
    Other,
}

fn classify(c: char) -> CharClass {
    use CharClass::*;
    match c {
        '_'
        | '\u{203F}'
        | '\u{2040}'
        | '\u{2054}'
        | '\u{FE33}'
        | '\u{FE34}'
        | '\u{FE4D}'..='\u{FE4F}'
        | '\u{FF3F}' => ExtendNumLet,
        '\'' => SingleQuote,
        '.' | '\u{2018}' | '\u{2019}' | '\u{2024}' | '\u{FE52}' | '\u{FF07}' | '\u{FF0E}' => {
            MidNumLet
        }
        ':' | '\u{00B7}' | '\u{0387}' | '\u{055F}' | '\u{05F4}' | '\u{2027}' | '\u{FE13}'
        | '\u{FE55}' | '\u{FF1A}' => MidLetter,
        ',' | ';' | '\u{037E}' | '\u{0589}' | '\u{060C}' | '\u{060D}' | '\u{066C}' | '\u{07F8}'
        | '\u{2044}' | '\u{FE10}' | '\u{FE14}' | '\u{FE50}' | '\u{FE54}' | '\u{FF0C}'
        | '\u{FF1B}' => MidNum,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{200C}'..='\u{200D}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{3099}'..='\u{309A}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0020}'..='\u{E007F}' => Extend,
        '\u{3031}'..='\u{3035}'
        | '\u{309B}'..='\u{309C}'
        | '\u{30A0}'..='\u{30FA}'
        | '\u{30FC}'..='\u{30FF}'
        | '\u{31F0}'..='\u{31FF}'
        | '\u{32D0}'..='\u{32FE}'
        | '\u{3300}'..='\u{3357}'
        | '\u{FF66}'..='\u{FF9D}' => Katakana,
        '\u{2E80}'..='\u{2FDF}'
        | '\u{3005}'..='\u{3007}'
        | '\u{3021}'..='\u{3029}'
        | '\u{3038}'..='\u{303B}'
        | '\u{3041}'..='\u{3096}'
        | '\u{309D}'..='\u{309F}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3FFFF}' => Ideographic,
        '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}' => Emoji,
        c if c.is_numeric() => Numeric,
        c if c.is_alphabetic() => Letter,
        _ => Other,
    }
}

fn is_word(c: CharClass) -> bool {
    use CharClass::*;
    matches!(c, Letter | Numeric | Katakana | ExtendNumLet)
}

/// Whether two adjacent characters belong to the same word (UAX #29 WB5, 8-10, 13, 13a, 13b).
fn joins(left: CharClass, right: CharClass) -> bool {
    use CharClass::*;
    match (left, right) {
        (Katakana, Katakana) => true,
        (l, ExtendNumLet) => is_word(l),
        (ExtendNumLet, r) => is_word(r),
        (Letter | Numeric, Letter | Numeric) => true,
        _ => false,
    }
}

/// Whether `mid` between `left` and `right` keeps one word: "dog's", "e.g", "3.14", "1,000"
/// (UAX #29 WB6, 7, 11, 12).
fn bridges(left: CharClass, mid: CharClass, right: CharClass) -> bool {
    use CharClass::*;
    match (left, right) {
        (Letter, Letter) => matches!(mid, MidLetter | MidNumLet | SingleQuote),
        (Numeric, Numeric) => matches!(mid, MidNum | MidNumLet | SingleQuote),
        _ => false,
    }
}

/// Index of the first char at or after `from` that is not an Extend char.
fn skip_extend(chars: &[(usize, char)], mut from: usize) -> usize {
    while from < chars.len() && classify(chars[from].1) == CharClass::Extend {
        from += 1;
    }
    from
}

/// End (exclusive char index) of the word starting at `start`.
fn word_end(chars: &[(usize, char)], start: usize) -> usize {
    let mut last = classify(chars[start].1);
    let mut j = start + 1;
    while j < chars.len() {
        let class = classify(chars[j].1);
        if class == CharClass::Extend {
            j += 1;
            continue;
        }
        if joins(last, class) {
            last = class;
            j += 1;
            continue;
        }
        let after = skip_extend(chars, j + 1);
        if after < chars.len() {
            let next = classify(chars[after].1);
            if bridges(last, class, next) {
                last = next;
                j = after + 1;
                continue;
            }
        }
        break;
    }
    j
}

/// End of the emoji starting at `start`: its modifiers, ZWJ sequences and flag pairs.
fn emoji_end(chars: &[(usize, char)], start: usize) -> usize {
    let is_regional = |c: char| ('\u{1F1E6}'..='\u{1F1FF}').contains(&c);
    let mut j = start + 1;
    if is_regional(chars[start].1) && j < chars.len() && is_regional(chars[j].1) {
        j += 1;
    }
    loop {
        let joined_by_zwj = j > 0 && chars[j - 1].1 == '\u{200D}';
        match chars.get(j) {
            Some(&(_, c)) if classify(c) == CharClass::Extend => j += 1,
            Some(&(_, c)) if joined_by_zwj && classify(c) == CharClass::Emoji => j += 1,
            _ => break,
        }
    }
    j
}

/// Splits `text` into lowercase tokens with byte offsets, like Elasticsearch's standard
/// analyzer: words by Unicode rules, each Han/Hiragana character alone, emoji as tokens,
/// punctuation dropped, tokens longer than 255 characters split.
pub fn analyze(text: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let class = classify(chars[i].1);
        let end = match class {
            CharClass::Ideographic => skip_extend(&chars, i + 1),
            CharClass::Emoji => emoji_end(&chars, i),
            c if is_word(c) => word_end(&chars, i),
            _ => {
                i += 1;
                continue;
            }
        };
        // A run of underscores alone is not a word.
        let has_content =
            class == CharClass::Emoji || chars[i..end].iter().any(|&(_, c)| c.is_alphanumeric());
        if has_content {
            for chunk in chars[i..end].chunks(MAX_TOKEN_CHARS) {
                let from = chunk[0].0;
                let to = chunk.last().map_or(from, |&(o, c)| o + c.len_utf8());
                tokens.push(Token {
                    offset_from: from,
                    offset_to: to,
                    position: tokens.len(),
                    text: text[from..to]
                        .chars()
                        .flat_map(char::to_lowercase)
                        .collect(),
                    position_length: 1,
                });
            }
        }
        i = end;
    }
    tokens
}

/// The tantivy face of [`analyze`].
#[derive(Clone, Copy, Default)]
pub(super) struct StandardTokenizer;

pub(super) struct VecTokenStream {
    tokens: std::vec::IntoIter<Token>,
    current: Token,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

impl Tokenizer for StandardTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream {
            tokens: analyze(text).into_iter(),
            current: Token::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        analyze(text).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn analysis_follows_the_standard_analyzer() {
        // The example of Elasticsearch's standard tokenizer documentation.
        assert_eq!(
            words("The 2 QUICK Brown-Foxes jumped over the lazy dog's bone."),
            [
                "the", "2", "quick", "brown", "foxes", "jumped", "over", "the", "lazy", "dog's",
                "bone"
            ]
        );
        assert_eq!(words("프로젝트 배포 완료!"), ["프로젝트", "배포", "완료"]);
        assert_eq!(words("部署完成"), ["部", "署", "完", "成"]);
        assert_eq!(
            words("v1.2.3 costs 1,000.50"),
            ["v1.2.3", "costs", "1,000.50"]
        );
        assert_eq!(words("snake_case __ ok"), ["snake_case", "ok"]);
        assert_eq!(words("ship it 🚀🚀"), ["ship", "it", "🚀", "🚀"]);
        assert_eq!(words("Ünïcödé ÉTÉ"), ["ünïcödé", "été"]);
        let long = "a".repeat(300);
        assert_eq!(words(&long).len(), 2);
        let tokens = analyze("Deploy, now");
        assert_eq!((tokens[1].offset_from, tokens[1].offset_to), (8, 11));
    }
}
