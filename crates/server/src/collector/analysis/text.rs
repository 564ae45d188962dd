//! Text normalisation shared by the flags: one definition of "the same text" for every
//! script. Lower case; letters and digits kept; apostrophes dropped (`don't` = `dont`);
//! every other character (punctuation, symbols, emoji, whitespace) is a word break; runs of
//! breaks are one space; no space at either end.

use std::collections::BTreeSet;

use memchr::memmem;

/// `text` normalised: see the module documentation.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        if matches!(c, '\'' | '’' | '‘' | '`') {
            continue;
        }
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.extend(c.to_lowercase());
            }
        } else {
            gap = true;
        }
    }
    out
}

/// The set of words of a normalised text.
pub fn words(normalised: &str) -> BTreeSet<&str> {
    normalised.split(' ').filter(|w| !w.is_empty()).collect()
}

/// Jaccard similarity of two word sets: |a ∩ b| / |a ∪ b|; 0 when both are empty.
pub fn jaccard(a: &BTreeSet<&str>, b: &BTreeSet<&str>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// A phrase list, normalised, without empty entries or repeats. Each phrase keeps its
/// substring searcher, built once: every re-judged message is searched for every phrase,
/// and building the searcher per search was most of that time (`log_bench`).
#[derive(Debug, Clone, Default)]
pub struct Phrases(Vec<Phrase>);

/// One phrase and its searcher.
#[derive(Debug, Clone)]
struct Phrase {
    text: String,
    finder: memmem::Finder<'static>,
}

impl PartialEq for Phrases {
    fn eq(&self, other: &Phrases) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| a.text == b.text)
    }
}

impl Phrases {
    /// The phrases of `list`, normalised.
    pub fn new<'a>(list: impl IntoIterator<Item = &'a str>) -> Phrases {
        let mut out = Phrases::default();
        out.extend(list);
        out
    }

    /// Adds phrases (normalised; empty ones and repeats skipped).
    pub fn extend<'a>(&mut self, list: impl IntoIterator<Item = &'a str>) {
        for p in list {
            let n = normalise(p);
            if !n.is_empty() && !self.0.iter().any(|q| q.text == n) {
                let finder = memmem::Finder::new(n.as_bytes()).into_owned();
                self.0.push(Phrase { text: n, finder });
            }
        }
    }

    /// Parses a phrase file: one phrase per line; blank lines and lines starting with `#`
    /// are skipped.
    pub fn file_lines(text: &str) -> impl Iterator<Item = &str> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    }

    /// How many phrases there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first phrase that occurs in the normalised text `hay`, as whole words (a phrase
    /// that starts or ends with a letter of a script written without spaces, such as
    /// Japanese, matches inside a word too).
    pub fn find(&self, hay: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|p| contains_phrase(hay, &p.text, &p.finder))
            .map(|p| p.text.as_str())
    }
}

fn spaced(c: Option<char>) -> bool {
    c.is_none_or(|c| c == ' ' || !c.is_ascii())
}

/// Whether `phrase` (found by `finder`) occurs in `hay` as whole words (see
/// [`Phrases::find`]); the occurrences are tried left to right, without overlaps, as
/// `str::match_indices` gives them.
fn contains_phrase(hay: &str, phrase: &str, finder: &memmem::Finder<'_>) -> bool {
    let first_ascii = phrase.chars().next().is_some_and(|c| c.is_ascii());
    let last_ascii = phrase.chars().next_back().is_some_and(|c| c.is_ascii());
    // A valid UTF-8 phrase found in valid UTF-8 text starts and ends on char boundaries.
    finder.find_iter(hay.as_bytes()).any(|i| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + phrase.len()..].chars().next();
        (!first_ascii || spaced(before)) && (!last_ascii || spaced(after))
    })
}

/// Upper-case letters ÷ cased letters, with the number of cased letters.
pub fn upper_share(text: &str) -> (f64, usize) {
    let (mut upper, mut cased) = (0usize, 0usize);
    for c in text.chars() {
        if c.is_uppercase() {
            upper += 1;
            cased += 1;
        } else if c.is_lowercase() {
            cased += 1;
        }
    }
    if cased == 0 {
        return (0.0, 0);
    }
    (upper as f64 / cased as f64, cased)
}

/// The longest run of `!` and `?` (ASCII or full-width), as written.
pub fn longest_mark_run(text: &str) -> String {
    let (mut best, mut run) = (String::new(), String::new());
    for c in text.chars() {
        if matches!(c, '!' | '?' | '！' | '？') {
            run.push(c);
            if run.chars().count() > best.chars().count() {
                best = run.clone();
            }
        } else {
            run.clear();
        }
    }
    best
}

fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// The character index of the first occurrence of `needle` in `hay`, ignoring case (each
/// character folded to its first lower-case form); `None` when absent or `needle` is empty.
pub fn find_folded(hay: &[char], needle: &str) -> Option<usize> {
    let needle: Vec<char> = needle.chars().map(fold).collect();
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    let hay: Vec<char> = hay.iter().copied().map(fold).collect();
    hay.windows(needle.len())
        .position(|w| w == needle.as_slice())
}

/// Whether `hay` contains `needle`, ignoring case as [`find_folded`] does.
pub fn contains_folded(hay: &str, needle: &str) -> bool {
    find_folded(&hay.chars().collect::<Vec<_>>(), needle).is_some()
}

/// `text` on one line, cut to `max` characters with `…`.
pub fn quote(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_ignores_case_punctuation_and_whitespace_in_any_script() {
        assert_eq!(
            normalise("  How do I RESET my password?!  "),
            "how do i reset my password"
        );
        assert_eq!(normalise("I don't know."), normalise("i dont know"));
        assert_eq!(normalise("I don’t know"), "i dont know");
        assert_eq!(normalise("Größe ÄNDERN"), "größe ändern");
        assert_eq!(normalise("Привет, МИР!"), "привет мир");
        assert_eq!(
            normalise("パスワードを忘れました。"),
            "パスワードを忘れました"
        );
        assert_eq!(normalise("🙂🙂"), "");
    }

    #[test]
    fn jaccard_of_word_sets() {
        let a = normalise("reset my password please");
        let b = normalise("please reset my password now");
        assert_eq!(jaccard(&words(&a), &words(&b)), 0.8);
        assert_eq!(jaccard(&words(""), &words("")), 0.0);
    }

    #[test]
    fn phrases_match_whole_words_and_spaceless_scripts() {
        let p = Phrases::new(["I don't know", "わかりません", "  ", "I DON'T KNOW"]);
        assert_eq!(p.len(), 2);
        assert_eq!(
            p.find(&normalise("Sorry, I don't know.")),
            Some("i dont know")
        );
        assert_eq!(p.find(&normalise("I don't knowingly lie")), None);
        // An occurrence refused at its edges does not end the search.
        assert_eq!(
            p.find(&normalise("Ai don't knowingly lie, and I don't know")),
            Some("i dont know")
        );
        // The list's order decides, not the place in the text.
        let q = Phrases::new(["not helpful", "useless"]);
        assert_eq!(
            q.find(&normalise("Useless, and not helpful")),
            Some("not helpful")
        );
        assert_eq!(q, Phrases::new(["Not helpful!", "useless", "USELESS"]));
        assert_ne!(q, Phrases::new(["useless", "not helpful"]));
        assert_eq!(
            p.find(&normalise("すみません、わかりません。")),
            Some("わかりません")
        );
        assert_eq!(
            Phrases::file_lines("# comment\n\n useless \nthat's wrong\n").collect::<Vec<_>>(),
            ["useless", "that's wrong"]
        );
    }

    #[test]
    fn upper_case_and_mark_runs() {
        assert_eq!(upper_share("WHY IS THIS BROKEN"), (1.0, 15));
        assert_eq!(upper_share("123 !!!"), (0.0, 0));
        assert_eq!(longest_mark_run("what?! why??? ok!"), "???");
        assert_eq!(longest_mark_run("なぜ！！！"), "！！！");
        assert_eq!(quote("a\n b  c", 10), "a b c");
        assert!(contains_folded("Die GRÖSSE und Größe", "größe"));
        assert!(contains_folded("ПАРОЛЬ", "пароль"));
        assert!(!contains_folded("abc", ""));
        assert_eq!(
            find_folded(&"xx🙂".chars().collect::<Vec<_>>(), "🙂"),
            Some(2)
        );
        assert_eq!(quote("abcdef", 3), "abc…");
    }
}
