//! Field patterns: a portable subset of regular expressions, matched without compiling anything.
//!
//! Every call runs on a fresh instance, so a regex engine would compile each pattern on every call
//! (measured: most of the cost of validating a form; BENCHMARKS.md). Form patterns describe formats
//! — licence numbers, codes, phone numbers — and need little: literal characters, classes `[a-z0-9]`
//! and `[^…]`, groups `( )`, alternation `|`, and the quantifiers `? * + {m} {m,} {m,n}`. Within
//! that subset a pattern means the same in Rust's `regex` crate and in ECMAScript, so a form's
//! pattern can be checked in a browser too; `.` and `\d`, whose meanings differ between the two
//! (line terminators, Unicode digits), are left out: write the class. The build refuses a pattern
//! outside the subset and checks that it compiles as a real regex.
//!
//! Matching simulates the pattern over the set of text positions reachable so far, so it never
//! backtracks. Unbounded repetition may not nest (`(a*)*` is refused), which keeps a match within
//! O(pattern × text²); the validator only applies patterns to texts of at most
//! [`MAX_TEXT_CHARS`] characters.

/// The longest text a pattern is applied to; a longer one does not match.
pub const MAX_TEXT_CHARS: usize = 1000;

/// A parsed pattern; [`Pattern::full_match`] tests a whole text.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern(Alt);

#[derive(Debug, Clone, PartialEq)]
struct Alt(Vec<Seq>);

#[derive(Debug, Clone, PartialEq)]
struct Seq(Vec<Repeat>);

#[derive(Debug, Clone, PartialEq)]
struct Repeat {
    atom: Atom,
    min: u32,
    max: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
enum Atom {
    Char(char),
    Class { ranges: Vec<(char, char)>, negated: bool },
    Group(Alt),
}

/// Why a pattern is outside the supported subset.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternError(pub String);

impl Pattern {
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut p = Parser { s: &chars, i: 0 };
        let alt = p.alt()?;
        if p.i != chars.len() {
            return Err(PatternError(format!("unexpected `{}` at {}", chars[p.i], p.i)));
        }
        Ok(Pattern(alt))
    }

    /// Whether the whole of `text` matches; a text over [`MAX_TEXT_CHARS`] never does.
    pub fn full_match(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        if t.len() > MAX_TEXT_CHARS {
            return false;
        }
        let mut start = vec![false; t.len() + 1];
        start[0] = true;
        self.0.run(&t, &start)[t.len()]
    }
}

/// Whether the whole of `text` matches `pattern`; a pattern outside the subset matches nothing.
pub fn full_match(pattern: &str, text: &str) -> bool {
    Pattern::parse(pattern).is_ok_and(|p| p.full_match(text))
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn err<T>(&self, what: &str) -> Result<T, PatternError> {
        Err(PatternError(format!("{what} at {}", self.i)))
    }

    fn alt(&mut self) -> Result<Alt, PatternError> {
        let mut seqs = vec![self.seq()?];
        while self.peek() == Some('|') {
            self.i += 1;
            seqs.push(self.seq()?);
        }
        Ok(Alt(seqs))
    }

    fn seq(&mut self) -> Result<Seq, PatternError> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let (min, max) = self.quantifier()?;
            if let (None, Atom::Group(inner)) = (max, &atom)
                && inner.unbounded()
            {
                return self.err("unbounded repetition inside unbounded repetition");
            }
            items.push(Repeat { atom, min, max });
        }
        Ok(Seq(items))
    }

    fn atom(&mut self) -> Result<Atom, PatternError> {
        let c = self.peek().expect("seq checked");
        self.i += 1;
        match c {
            '.' => self.err("`.` is not portable: name the characters with a class, or escape it as \\."),
            '(' => {
                if self.peek() == Some('?') {
                    return self.err("group flags are not supported");
                }
                let alt = self.alt()?;
                if self.peek() != Some(')') {
                    return self.err("unclosed group");
                }
                self.i += 1;
                Ok(Atom::Group(alt))
            }
            '[' => self.class(),
            '\\' => self.escape().map(Atom::Char),
            '^' | '$' => self.err("anchors are implied: the whole text must match"),
            '*' | '+' | '?' | '{' => self.err("a quantifier needs something to repeat"),
            ']' | '}' => self.err("unbalanced bracket"),
            c => Ok(Atom::Char(c)),
        }
    }

    fn escape(&mut self) -> Result<char, PatternError> {
        let Some(c) = self.peek() else { return self.err("a pattern cannot end with a backslash") };
        self.i += 1;
        match c {
            '.' | '\\' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '*' | '+' | '?' | '-' | '^' | '$' | '/' => Ok(c),
            _ => self.err("only punctuation may be escaped (write [0-9] for a digit)"),
        }
    }

    fn class(&mut self) -> Result<Atom, PatternError> {
        let negated = self.peek() == Some('^');
        if negated {
            self.i += 1;
        }
        let mut ranges = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return self.err("unclosed class");
            };
            self.i += 1;
            let lo = match c {
                ']' if !ranges.is_empty() => break,
                ']' => return self.err("an empty class"),
                '[' => return self.err("nested classes are not supported"),
                '\\' => self.escape()?,
                c => c,
            };
            if self.peek() == Some('-') && self.s.get(self.i + 1).is_some_and(|c| *c != ']') {
                self.i += 1;
                let hi = match self.peek() {
                    Some('\\') => {
                        self.i += 1;
                        self.escape()?
                    }
                    Some(c) => {
                        self.i += 1;
                        c
                    }
                    None => return self.err("unclosed class"),
                };
                if hi < lo {
                    return self.err("a reversed range");
                }
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
        Ok(Atom::Class { ranges, negated })
    }

    fn quantifier(&mut self) -> Result<(u32, Option<u32>), PatternError> {
        let q = match self.peek() {
            Some('?') => (0, Some(1)),
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('{') => {
                self.i += 1;
                let min = self.number()?;
                let max = if self.peek() == Some(',') {
                    self.i += 1;
                    if self.peek() == Some('}') { None } else { Some(self.number()?) }
                } else {
                    Some(min)
                };
                if self.peek() != Some('}') {
                    return self.err("unclosed repetition");
                }
                if max.is_some_and(|m| m < min) {
                    return self.err("a reversed repetition");
                }
                (min, max)
            }
            _ => return Ok((1, Some(1))),
        };
        self.i += 1;
        if matches!(self.peek(), Some('?' | '*' | '+' | '{')) {
            return self.err("lazy or stacked quantifiers are not supported");
        }
        Ok(q)
    }

    fn number(&mut self) -> Result<u32, PatternError> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits: String = self.s[start..self.i].iter().collect();
        match digits.parse::<u32>() {
            Ok(n) if n <= 1000 => Ok(n),
            _ => self.err("a repetition count from 0 to 1000"),
        }
    }
}

/// Position sets: `set[i]` is true when the match so far can have consumed `text[..i]`.
impl Alt {
    /// Whether some path through it repeats without bound.
    fn unbounded(&self) -> bool {
        self.0.iter().flat_map(|s| &s.0).any(|r| r.max.is_none() || matches!(&r.atom, Atom::Group(g) if g.unbounded()))
    }

    fn run(&self, t: &[char], from: &[bool]) -> Vec<bool> {
        let mut out = vec![false; from.len()];
        for s in &self.0 {
            for (o, r) in out.iter_mut().zip(s.run(t, from)) {
                *o |= r;
            }
        }
        out
    }
}

impl Seq {
    fn run(&self, t: &[char], from: &[bool]) -> Vec<bool> {
        let mut cur = from.to_vec();
        for r in &self.0 {
            cur = r.run(t, &cur);
            if !cur.iter().any(|b| *b) {
                break;
            }
        }
        cur
    }
}

impl Repeat {
    fn run(&self, t: &[char], from: &[bool]) -> Vec<bool> {
        let mut out = if self.min == 0 { from.to_vec() } else { vec![false; from.len()] };
        let mut cur = from.to_vec();
        let mut n = 0u32;
        loop {
            if self.max.is_some_and(|m| n >= m) {
                break;
            }
            let next = self.atom.step(t, &cur);
            n += 1;
            let mut grew = false;
            if n >= self.min {
                for (o, x) in out.iter_mut().zip(&next) {
                    if *x && !*o {
                        *o = true;
                        grew = true;
                    }
                }
            }
            if !next.iter().any(|b| *b) || (n >= self.min && self.max.is_none() && !grew) {
                break;
            }
            cur = next;
        }
        out
    }
}

impl Atom {
    fn step(&self, t: &[char], from: &[bool]) -> Vec<bool> {
        match self {
            Atom::Group(alt) => alt.run(t, from),
            _ => {
                let mut out = vec![false; from.len()];
                for i in 0..t.len() {
                    if from[i] && self.accepts(t[i]) {
                        out[i + 1] = true;
                    }
                }
                out
            }
        }
    }

    fn accepts(&self, c: char) -> bool {
        match self {
            Atom::Char(x) => *x == c,
            Atom::Class { ranges, negated } => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated,
            Atom::Group(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_officers_write() {
        let mobile = "1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}";
        assert!(full_match(mobile, "13907790123"));
        assert!(full_match(mobile, "0779-3036789"));
        assert!(full_match(mobile, "07793036789"));
        assert!(!full_match(mobile, "12345"));
        assert!(!full_match(mobile, "139077901234"));
        let code = "[0-9A-Z]{18}|[0-9]{17}[0-9X]";
        assert!(full_match(code, "914403001922038216"));
        assert!(full_match(code, "11010519491231002X"));
        assert!(!full_match(code, "91440300192203821"));
        assert!(full_match("(ab|c)*d+\\.x?", "abcabdd."));
        assert!(!full_match("[0-9]+", &"1".repeat(MAX_TEXT_CHARS + 1)));
        assert!(full_match("[^0-9]+", "粤B"));
        assert!(!full_match("[^0-9]+", "粤B1"));
        assert!(full_match("", ""));
        assert!(!full_match("a", ""));
    }

    #[test]
    fn patterns_outside_the_subset_are_refused() {
        for p in [
            "^a",
            "a$",
            "(?i)a",
            "a{2,1}",
            "[z-a]",
            "a**",
            "\\w",
            "\\d",
            "a.b",
            "(a*)*",
            "((ab)+c)+",
            "(a",
            "[a",
            "a{99999}",
            "*a",
        ] {
            assert!(Pattern::parse(p).is_err(), "{p}");
        }
    }

    /// The subset means what it means in a real regex engine.
    #[test]
    fn agrees_with_a_real_regex_engine() {
        let patterns = [
            "a*b+",
            "(ab|a)*b",
            "[a-c]{2,3}|x?",
            "(a|b)*(c|d){1,2}",
            "[0-9]{3}-?[0-9]{2}",
            "(a|b*){2}c",
            "[^ab]c",
            "[^a]a[^\\-]",
            "(ab)+|ba",
            "a{0,2}b{2,}",
        ];
        // With a line break and a non-ASCII digit, where `.` and `\d` would have differed.
        let alphabet = ['a', 'b', 'c', 'd', '1', '-', '\n', '٣'];
        for p in patterns {
            let ours = Pattern::parse(p).unwrap();
            let theirs = regex_lite::Regex::new(&format!("^(?:{p})$")).unwrap();
            // Every text over the alphabet up to length 4.
            let mut texts = vec![String::new()];
            for _ in 0..4 {
                let longer: Vec<String> =
                    texts.iter().flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}"))).collect();
                texts.extend(longer);
                texts.dedup();
            }
            for t in &texts {
                assert_eq!(ours.full_match(t), theirs.is_match(t), "pattern {p:?} on {t:?}");
            }
        }
    }
}
