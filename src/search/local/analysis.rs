//! Analysis: Elasticsearch's `standard` analyzer (Unicode word segmentation, UAX #29, then
//! lowercase), used both to index the content and to analyse query text.
//!
//! Word boundaries come from the `unicode-segmentation` crate, which implements UAX #29 with
//! tables generated from the Unicode Character Database; this module only decides which segments
//! are tokens, as Lucene's `StandardTokenizer` does: segments with a letter or digit (so a run of
//! `_` alone is not a word), emoji, and runs of South-East Asian letters (Thai, Lao, Myanmar,
//! Khmer...: UAX #29 leaves their words to a dictionary, Lucene keeps a whole run as one token).
//! Han and Hiragana characters are each a segment of their own under UAX #29, hence a token each.
//!
//! The content field also holds the CJK grams of [`crate::search::grams`] (bigrams and
//! unigrams of Hangul, kana and Han runs), each marked with [`GRAM_MARK`] so that no gram can
//! be confused with a word: the whole word 배포 and the gram 배포 are different terms, which is
//! what lets a search rank whole-word hits above gram-only ones. They share the field rather
//! than having one of their own because tantivy's schema is fixed per index: a new field would
//! make every existing index unopenable, while new terms in the same field let
//! `eventdeck replay --reindex` upgrade an index in place, searches answering throughout.
//!
//! Invariant: indexing and querying go through the same [`analyze`] (words) and the same gram
//! rules, so a query term matches exactly the tokens the content produced; token offsets are
//! byte offsets into the input, which the highlighter relies on. Changing what
//! [`index_tokens`] returns changes the index format: bump [`ANALYZER`], and an index built by
//! an older analyzer must be rebuilt (`replay --reindex`) for its terms to match.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_segmentation::UnicodeSegmentation;

/// Name under which [`StandardTokenizer`] is registered; it is recorded in the schema.
pub(super) const TOKENIZER: &str = "eventdeck_standard";
/// What [`index_tokens`] makes of a text, recorded with every commit of an index it built
/// (see `LocalIndex`): words as Elasticsearch's standard analyzer, plus CJK grams.
pub const ANALYZER: &str = crate::search::CJK_BIGRAMS;
/// Starts every gram term: a control character, which no word token can hold.
pub const GRAM_MARK: char = '\u{1}';

/// The term of a gram in the content field.
pub fn gram_term(gram: &str) -> String {
    let mut term = String::with_capacity(gram.len() + 1);
    term.push(GRAM_MARK);
    term.push_str(gram);
    term
}

/// What the content field is indexed with: the words of [`analyze`], then the marked grams
/// of [`crate::search::grams::index_grams`].
pub fn index_tokens(text: &str) -> Vec<Token> {
    let mut tokens = analyze(text);
    for gram in crate::search::grams::index_grams(text) {
        tokens.push(Token {
            offset_from: gram.from,
            offset_to: gram.to,
            position: tokens.len(),
            text: gram_term(&gram.text),
            position_length: 1,
        });
    }
    tokens
}
/// Elasticsearch's standard tokenizer splits longer tokens at this many characters.
const MAX_TOKEN_CHARS: usize = 255;

/// Whether `c` starts an emoji token (Extended_Pictographic blocks and regional indicators).
/// Modifiers, variation selectors and ZWJ sequences are kept with it by the segmenter.
fn is_emoji(c: char) -> bool {
    matches!(c, '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}')
}

/// Letters of the scripts whose Line_Break is Complex_Context (South-East Asian): Lucene joins a
/// run of them into one token where UAX #29 splits between letters.
fn is_south_east_asian(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}'     // Thai, Lao
        | '\u{1000}'..='\u{109F}'   // Myanmar
        | '\u{1780}'..='\u{17FF}'   // Khmer
        | '\u{1950}'..='\u{19DF}'   // Tai Le, New Tai Lue
        | '\u{1A20}'..='\u{1AAF}'   // Tai Tham
        | '\u{A9E0}'..='\u{A9FF}'   // Myanmar Extended-B
        | '\u{AA60}'..='\u{AADF}')  // Myanmar Extended-A, Tai Viet
        && !c.is_numeric()
}

/// Splits `text` into lowercase tokens with byte offsets, like Elasticsearch's standard
/// analyzer: words by Unicode rules (UAX #29), each Han/Hiragana character alone, emoji as
/// tokens, punctuation dropped, tokens longer than 255 characters split.
pub fn analyze(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut segments = text.split_word_bound_indices().peekable();
    while let Some((from, segment)) = segments.next() {
        let mut to = from + segment.len();
        if segment.chars().all(is_south_east_asian) {
            while let Some(&(next, s)) = segments.peek() {
                if next != to || !s.chars().all(is_south_east_asian) {
                    break;
                }
                to = next + s.len();
                segments.next();
            }
        }
        let word = &text[from..to];
        let is_token =
            word.chars().any(char::is_alphanumeric) || word.chars().next().is_some_and(is_emoji);
        if !is_token {
            continue;
        }
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        for chunk in chars.chunks(MAX_TOKEN_CHARS) {
            let start = from + chunk[0].0;
            let end = chunk
                .last()
                .map_or(start, |&(o, c)| from + o + c.len_utf8());
            tokens.push(Token {
                offset_from: start,
                offset_to: end,
                position: tokens.len(),
                text: text[start..end]
                    .chars()
                    .flat_map(char::to_lowercase)
                    .collect(),
                position_length: 1,
            });
        }
    }
    tokens
}

/// The tantivy face of [`index_tokens`] (or, for the benchmark's baseline of an index as
/// eventdeck built it before CJK grams, of [`analyze`] alone).
#[derive(Clone, Copy)]
pub(super) struct StandardTokenizer {
    pub grams: bool,
}

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
            tokens: if self.grams {
                index_tokens(text)
            } else {
                analyze(text)
            }
            .into_iter(),
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
        assert_eq!(
            words("mail bob@example.com now"),
            ["mail", "bob", "example.com", "now"]
        );
        assert_eq!(
            words("it's John\u{2019}s rock'n'roll 'quoted'"),
            ["it's", "john\u{2019}s", "rock'n'roll", "quoted"]
        );
        // Skin tones, ZWJ families and keycaps stay with their emoji; flags go by pairs.
        assert_eq!(
            words("👍🏽 👨\u{200D}👩\u{200D}👧 🇫🇷🇩🇪 1\u{FE0F}\u{20E3} ©"),
            [
                "👍🏽",
                "👨\u{200D}👩\u{200D}👧",
                "🇫🇷",
                "🇩🇪",
                "1\u{FE0F}\u{20E3}"
            ]
        );
        // Hiragana alone like Han, katakana runs together, a Thai run as one token (Lucene).
        assert_eq!(
            words("ひらがカタカナ ラーメン屋"),
            ["ひ", "ら", "が", "カタカナ", "ラーメン", "屋"]
        );
        assert_eq!(words("สวัสดีครับ ทดสอบ"), ["สวัสดีครับ", "ทดสอบ"]);
        assert_eq!(
            words("a:b c.d 3:4 5,6 x,y 12,345,678.90 __init__ _a"),
            [
                "a:b",
                "c.d",
                "3",
                "4",
                "5,6",
                "x",
                "y",
                "12,345,678.90",
                "__init__",
                "_a"
            ]
        );
        assert_eq!(
            words("ＦＵＬＬ　１２３ Привет, мир"),
            ["ｆｕｌｌ", "１２３", "привет", "мир"]
        );
        let tokens = analyze("Deploy, now");
        assert_eq!((tokens[1].offset_from, tokens[1].offset_to), (8, 11));
    }

    /// Where the hand-kept tables this module used before `unicode-segmentation` split words
    /// that UAX #29, and so Elasticsearch's standard tokenizer, keeps whole.
    #[test]
    fn analysis_keeps_what_uax29_keeps() {
        // Hebrew gershayim between Hebrew letters (WB7b, WB7c).
        assert_eq!(words("צה\"ל שלום"), ["צה\"ל", "שלום"]);
        // A soft hyphen is a format character, ignored inside a word (WB4).
        assert_eq!(words("co\u{AD}operate"), ["co\u{AD}operate"]);
        // Combining marks of any script extend the word: Devanagari virama and vowel signs.
        assert_eq!(words("नमस्ते दुनिया"), ["नमस्ते", "दुनिया"]);
    }
}
