//! Highlighting, like Elasticsearch's default: the whole content when it is short, otherwise up
//! to five fragments of about 100 characters around the matches; matches in `<em>…</em>`.
//! No HTML escaping (Elasticsearch's default encoder does not escape either).
//!
//! A match is a word of the query (a token of [`analyze`]) or a CJK gram of the query inside a
//! word ([`crate::search::grams`]): the query 배포 marks `<em>배포</em>를`, the part of the word
//! that matched. Both backends use it for queries with CJK text (an engine can only highlight
//! the terms of its own fields, and the grams field holds grams, not the message).
//!
//! Invariant: fragments are cut only at token boundaries and marks only at gram or token
//! boundaries (byte offsets into the content), so they are always valid UTF-8 slices of it.

use std::collections::HashSet;
use std::ops::Range;

use super::grams::index_grams;
use super::local::analyze;

/// Highlight fragments of about this many characters, at most this many, as Elasticsearch does.
const FRAGMENT_CHARS: usize = 100;
const MAX_FRAGMENTS: usize = 5;

/// Fragments of `content` with the tokens whose analysed form is in `words`, and the grams
/// in `grams`, highlighted. Overlapping matches are marked as one.
pub fn highlight(content: &str, words: &HashSet<String>, grams: &HashSet<String>) -> Vec<String> {
    if words.is_empty() && grams.is_empty() {
        return Vec::new();
    }
    let tokens = analyze(content);
    let mut found: Vec<Range<usize>> = tokens
        .iter()
        .filter(|t| words.contains(&t.text))
        .map(|t| t.offset_from..t.offset_to)
        .collect();
    if !grams.is_empty() {
        found.extend(
            index_grams(content)
                .into_iter()
                .filter(|g| grams.contains(&g.text))
                .map(|g| g.from..g.to),
        );
    }
    let matched = merge(found);
    if matched.is_empty() {
        return Vec::new();
    }
    let width = |from: usize, to: usize| content[from..to].chars().count();
    if tokens.is_empty() || width(0, content.len()) <= FRAGMENT_CHARS * 3 / 2 {
        return vec![wrap(content, 0..content.len(), &matched)];
    }
    // The token that holds byte `at` (or the last one).
    let token_at = |at: usize| {
        tokens
            .iter()
            .position(|t| t.offset_to > at)
            .unwrap_or(tokens.len() - 1)
    };
    let mut fragments = Vec::new();
    let mut next = 0;
    while next < matched.len() && fragments.len() < MAX_FRAGMENTS {
        let m = token_at(matched[next].start);
        let must_reach = token_at(matched[next].end - 1).max(m);
        // A little context before the match, then words up to the fragment size.
        let mut first = m;
        while first > 0 && width(tokens[first - 1].offset_from, tokens[m].offset_from) <= 25 {
            first -= 1;
        }
        let mut last = must_reach;
        while last + 1 < tokens.len()
            && width(tokens[first].offset_from, tokens[last + 1].offset_to) <= FRAGMENT_CHARS
        {
            last += 1;
        }
        let start = if first == 0 {
            0
        } else {
            tokens[first].offset_from
        };
        let end = if last + 1 == tokens.len() {
            content.len()
        } else {
            tokens[last].offset_to
        };
        fragments.push(wrap(content, start..end, &matched).trim().to_string());
        while next < matched.len() && matched[next].end <= end {
            next += 1;
        }
    }
    fragments
}

/// Sorted, with overlapping ranges joined.
fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

fn wrap(content: &str, range: Range<usize>, matched: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(range.len() + 16);
    let mut pos = range.start;
    for m in matched {
        if m.start < pos || m.end > range.end {
            continue;
        }
        out.push_str(&content[pos..m.start]);
        out.push_str("<em>");
        out.push_str(&content[m.clone()]);
        out.push_str("</em>");
        pos = m.end;
    }
    out.push_str(&content[pos..range.end]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> HashSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn highlight_wraps_matched_tokens() {
        let terms = set(&["deploy", "staging"]);
        let none = HashSet::new();
        assert_eq!(
            highlight("Deploy to staging, done.", &terms, &none),
            ["<em>Deploy</em> to <em>staging</em>, done."]
        );
        assert!(highlight("nothing here", &terms, &none).is_empty());
        let long = format!("{} deploy {}", "word ".repeat(60), "tail ".repeat(60));
        let fragments = highlight(&long, &terms, &none);
        assert_eq!(fragments.len(), 1);
        assert!(fragments[0].contains("<em>deploy</em>"));
        assert!(fragments[0].chars().count() < 130, "{}", fragments[0]);
    }

    #[test]
    fn highlight_marks_the_matched_part_of_a_cjk_word() {
        let none = HashSet::new();
        assert_eq!(
            highlight("배포를 시작합니다", &none, &set(&["배포"])),
            ["<em>배포</em>를 시작합니다"]
        );
        // Overlapping grams are one mark; a whole word and its grams too.
        assert_eq!(
            highlight("배포를 시작합니다", &none, &set(&["배포", "포를"])),
            ["<em>배포를</em> 시작합니다"]
        );
        assert_eq!(
            highlight("프로젝트 배포 완료", &set(&["배포"]), &set(&["배포"])),
            ["프로젝트 <em>배포</em> 완료"]
        );
        assert_eq!(
            highlight("東京タワーに行く", &none, &set(&["タワ", "ワー"])),
            ["東京<em>タワー</em>に行く"]
        );
        let long = format!(
            "{} 오늘 배포를 합니다 {}",
            "word ".repeat(60),
            "tail ".repeat(60)
        );
        let fragments = highlight(&long, &none, &set(&["배포"]));
        assert_eq!(fragments.len(), 1);
        assert!(fragments[0].contains("<em>배포</em>를"), "{}", fragments[0]);
    }
}
