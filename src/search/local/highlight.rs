//! Highlighting, like Elasticsearch's default: the whole content when it is short, otherwise up
//! to five fragments of about 100 characters around the matches; matched tokens in `<em>…</em>`.
//! No HTML escaping (Elasticsearch's default encoder does not escape either).
//!
//! Invariant: fragments are cut only at token boundaries (byte offsets from [`analyze`]), so they
//! are always valid UTF-8 slices of the content.

use std::collections::HashSet;

use tantivy::tokenizer::Token;

use super::analysis::analyze;

/// Highlight fragments of about this many characters, at most this many, as Elasticsearch does.
const FRAGMENT_CHARS: usize = 100;
const MAX_FRAGMENTS: usize = 5;

/// Fragments of `content` with the tokens whose analysed form is in `terms` highlighted.
pub fn highlight(content: &str, terms: &HashSet<String>) -> Vec<String> {
    if terms.is_empty() {
        return Vec::new();
    }
    let tokens = analyze(content);
    let matched: Vec<usize> = (0..tokens.len())
        .filter(|&i| terms.contains(&tokens[i].text))
        .collect();
    if matched.is_empty() {
        return Vec::new();
    }
    let width = |from: usize, to: usize| content[from..to].chars().count();
    if width(0, content.len()) <= FRAGMENT_CHARS * 3 / 2 {
        return vec![wrap(content, 0..content.len(), &tokens, &matched)];
    }
    let mut fragments = Vec::new();
    let mut next = 0;
    while next < matched.len() && fragments.len() < MAX_FRAGMENTS {
        let m = matched[next];
        // A little context before the match, then words up to the fragment size.
        let mut first = m;
        while first > 0 && width(tokens[first - 1].offset_from, tokens[m].offset_from) <= 25 {
            first -= 1;
        }
        let mut last = m;
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
        fragments.push(
            wrap(content, start..end, &tokens, &matched)
                .trim()
                .to_string(),
        );
        while next < matched.len() && matched[next] <= last {
            next += 1;
        }
    }
    fragments
}

fn wrap(
    content: &str,
    range: std::ops::Range<usize>,
    tokens: &[Token],
    matched: &[usize],
) -> String {
    let mut out = String::with_capacity(range.len() + 16);
    let mut pos = range.start;
    for token in matched.iter().map(|&i| &tokens[i]) {
        if token.offset_from < pos || token.offset_to > range.end {
            continue;
        }
        out.push_str(&content[pos..token.offset_from]);
        out.push_str("<em>");
        out.push_str(&content[token.offset_from..token.offset_to]);
        out.push_str("</em>");
        pos = token.offset_to;
    }
    out.push_str(&content[pos..range.end]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlight_wraps_matched_tokens() {
        let terms: HashSet<String> = ["deploy".to_string(), "staging".to_string()].into();
        assert_eq!(
            highlight("Deploy to staging, done.", &terms),
            ["<em>Deploy</em> to <em>staging</em>, done."]
        );
        assert!(highlight("nothing here", &terms).is_empty());
        let long = format!("{} deploy {}", "word ".repeat(60), "tail ".repeat(60));
        let fragments = highlight(&long, &terms);
        assert_eq!(fragments.len(), 1);
        assert!(fragments[0].contains("<em>deploy</em>"));
        assert!(fragments[0].chars().count() < 130, "{}", fragments[0]);
    }
}
