//! Overlapping character bigrams of CJK runs, the technique of Lucene's `CJKBigramFilter`,
//! computed by eventdeck itself so that it works on any search engine: "배포를 시작합니다"
//! becomes 배포 포를 시작 작합 합니 니다, so the query 배포 (one bigram) finds the word with
//! its particle, which a whole-word analyzer cannot (a Hangul run is one token there).
//!
//! A run is a maximal sequence of Hangul, Hiragana, Katakana or Han characters; every other
//! character ends it. A run of one character is emitted as a unigram (as Lucene does).
//!
//! The index side also holds the unigram of every CJK character ([`index_grams`], Lucene's
//! `outputUnigrams`), the query side only bigrams ([`query_grams`]): so a query of one
//! syllable (배) finds every word that holds it (배포를), while a longer query is matched by
//! its bigrams alone and a shared syllable does not count as a hit.
//! Offsets are byte offsets into the input, for the highlighter. Pure; nothing here depends
//! on an engine.

/// One bigram (or the unigram of a one-character run) and where it is in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gram {
    pub text: String,
    /// Byte offsets into the analysed text.
    pub from: usize,
    pub to: usize,
}

/// Whether `c` is a character of the scripts bigrams are made of.
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}'     // Hangul Jamo
        | '\u{3040}'..='\u{309F}'   // Hiragana
        | '\u{30A0}'..='\u{30FF}'   // Katakana
        | '\u{3130}'..='\u{318F}'   // Hangul Compatibility Jamo
        | '\u{3400}'..='\u{4DBF}'   // CJK Extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK Unified Ideographs
        | '\u{A960}'..='\u{A97F}'   // Hangul Jamo Extended-A
        | '\u{AC00}'..='\u{D7A3}'   // Hangul Syllables
        | '\u{D7B0}'..='\u{D7FF}'   // Hangul Jamo Extended-B
        | '\u{F900}'..='\u{FAFF}'   // CJK Compatibility Ideographs
        | '\u{FF66}'..='\u{FF9F}'   // Halfwidth Katakana
        | '\u{FFA0}'..='\u{FFDC}'   // Halfwidth Hangul
        | '\u{20000}'..='\u{2FA1F}') // CJK Extensions B–F, Compatibility Supplement
}

/// Whether `text` holds a character that bigrams are made of.
pub fn has_cjk(text: &str) -> bool {
    text.chars().any(is_cjk)
}

/// The grams a query is matched by: the bigrams of its CJK runs (a lone character as itself).
pub fn query_grams(text: &str) -> Vec<Gram> {
    bigrams(text)
}

/// The grams a document is indexed with: the bigrams, then the unigram of every character of
/// a longer run (a one-character run is already its own unigram).
pub fn index_grams(text: &str) -> Vec<Gram> {
    let mut grams = bigrams(text);
    let mut singles = Vec::new();
    let flush = |singles: &mut Vec<Gram>, run: &mut Vec<Gram>| {
        if run.len() > 1 {
            singles.append(run);
        }
        run.clear();
    };
    let mut run = Vec::new();
    for (at, c) in text.char_indices() {
        if is_cjk(c) {
            run.push(Gram {
                text: c.to_string(),
                from: at,
                to: at + c.len_utf8(),
            });
        } else {
            flush(&mut singles, &mut run);
        }
    }
    flush(&mut singles, &mut run);
    grams.append(&mut singles);
    grams
}

/// The bigrams of every CJK run of `text`, in order.
pub fn bigrams(text: &str) -> Vec<Gram> {
    let mut grams = Vec::new();
    let mut run: Vec<(usize, char)> = Vec::new();
    let mut flush = |run: &mut Vec<(usize, char)>| {
        match run.as_slice() {
            [] => {}
            [(at, c)] => grams.push(Gram {
                text: c.to_string(),
                from: *at,
                to: at + c.len_utf8(),
            }),
            many => {
                for pair in many.windows(2) {
                    let ((from, a), (at, b)) = (pair[0], pair[1]);
                    grams.push(Gram {
                        text: [a, b].iter().collect(),
                        from,
                        to: at + b.len_utf8(),
                    });
                }
            }
        }
        run.clear();
    };
    for (at, c) in text.char_indices() {
        if is_cjk(c) {
            run.push((at, c));
        } else {
            flush(&mut run);
        }
    }
    flush(&mut run);
    grams
}

/// The value of the `content_grams` field: the index grams separated by spaces, for an
/// engine field analysed by whitespace only (every engine has that analyzer). Empty when the
/// text has no CJK character.
pub fn grams_field(text: &str) -> String {
    index_grams(text)
        .into_iter()
        .map(|g| g.text)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        bigrams(text).into_iter().map(|g| g.text).collect()
    }

    #[test]
    fn a_hangul_word_with_its_particle_shares_the_words_bigram() {
        assert_eq!(texts("배포"), ["배포"]);
        assert_eq!(
            texts("배포를 시작합니다"),
            ["배포", "포를", "시작", "작합", "합니", "니다"]
        );
        assert_eq!(
            texts("프로젝트 배포 완료"),
            ["프로", "로젝", "젝트", "배포", "완료"]
        );
    }

    #[test]
    fn other_scripts_end_a_run_and_a_lone_character_is_a_unigram() {
        assert_eq!(texts("배포 deploy 완료"), ["배포", "완료"]);
        assert_eq!(texts("v2배포!"), ["배포"]);
        assert_eq!(texts("배 고파"), ["배", "고파"]);
        assert_eq!(texts("東京タワー"), ["東京", "京タ", "タワ", "ワー"]);
        assert_eq!(texts("部署完成"), ["部署", "署完", "完成"]);
        assert!(texts("deploy done 🚀").is_empty());
        assert_eq!(grams_field("배포를 시작"), "배포 포를 시작 배 포 를 시 작");
        assert_eq!(grams_field("배 고파"), "배 고파 고 파");
        assert_eq!(grams_field("plain"), "");
    }

    #[test]
    fn offsets_point_at_the_grams_in_the_text() {
        let text = "go 배포를!";
        for g in bigrams(text) {
            assert_eq!(&text[g.from..g.to], g.text);
        }
        assert_eq!(bigrams(text)[0].from, 3);
    }
}
